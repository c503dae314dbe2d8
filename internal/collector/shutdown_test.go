package collector

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A request whose events Kafka does not acknowledge is not waited for past
// the drain: stream.DrainTimeout into the shutdown it is answered 503 with
// Retry-After (the client resends the batch elsewhere), saying why, and Serve
// returns, long before the --produce-timeout would have ended it.
func TestShutdownAnswers503ToRequestsKafkaDoesNotAcknowledge(t *testing.T) {
	ts, p := fakeServer(t, "--produce-timeout", "10m", "--drain-timeout", "10m")
	p.gate = make(chan struct{}) // never opened: a broker that does not answer
	results := make(chan answer, 3)
	for i := range 3 {
		go func() {
			a, err := tryPost(http.DefaultClient, ts.URL, tokenA, "application/json", "", jsonBatch(t, nativeEvents(t, 10, uint64(20+i))))
			if err != nil {
				a.Status, a.Raw = -1, err.Error()
			}
			results <- a
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.entered.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the requests did not reach the writer")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()
	for range 3 {
		select {
		case a := <-results:
			if a.Status != http.StatusServiceUnavailable || a.RetryAfter == "" || a.Body.Accepted != 0 || !strings.Contains(a.Body.Error, "shutting down") {
				t.Errorf("request in flight at shutdown: %d (Retry-After %q) %s, want 503 with Retry-After saying the collector is shutting down", a.Status, a.RetryAfter, a.Raw)
			}
		case <-time.After(time.Minute):
			t.Fatal("a request waiting for Kafka held the shutdown")
		}
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve did not return")
	}
	if n := ts.InflightBytes(); n != 0 {
		t.Errorf("in-flight bytes %d after shutdown, want 0: the abandoned writes let go", n)
	}
}
