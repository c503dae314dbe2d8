package collector

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/veiltelemetry/veil/internal/testenv"
)

// trickler is one upload of the attack in issue 15: a POST that declares a 4 MiB
// body and then sends one byte at a time.
type trickler struct {
	started time.Time     // when the headers were sent
	sent    atomic.Int64  // body bytes written
	done    chan struct{} // closed once the server closed the connection
	// Set before done is closed:
	status string    // the first line the server answered, "" if none
	answer string    // all of it
	closed time.Time // when the server closed the connection
	err    error     // of reading the answer
}

// startTrickle opens a raw TCP connection to addr, sends the headers of a POST
// /v1/events with Content-Length 4194304 and token, then writes one byte every
// interval until the server closes the connection.
func startTrickle(t testing.TB, addr, token string, every time.Duration) *trickler {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := fmt.Sprintf("POST /v1/events HTTP/1.1\r\nHost: collector\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", token, 4<<20)
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	tr := &trickler{started: time.Now(), done: make(chan struct{})}
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-tr.done:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
			tr.sent.Add(1)
		}
	}()
	go func() {
		answer, err := io.ReadAll(conn) // until the server closes the connection
		tr.closed, tr.err = time.Now(), err
		tr.answer = string(answer)
		tr.status, _, _ = strings.Cut(tr.answer, "\r\n")
		close(tr.done)
	}()
	return tr
}

// Issue 15: 16 and more authenticated uploads that declare 4 MiB and trickle one
// byte at a time (every 300 ms here, ten times the issue's pace) hold only what
// they sent, not the 64 MiB of budget they declared. Valid clients of the same
// fleet get 202 within a second, every time, while they trickle; the server cuts
// each trickle off with 408 within --body-timeout, and the budget returns to zero.
func TestTricklingUploadsDoNotBlockValidClients(t *testing.T) {
	const (
		tricklers   = 20
		bodyTimeout = 4 * time.Second
		validBound  = time.Second // the issue's acceptance criterion, per request
		margin      = 5 * time.Second
	)
	// The defaults otherwise: a 64 MiB budget, 4 MiB bodies, 16 KiB/s.
	ts, p := fakeServer(t, "--body-timeout", bodyTimeout.String())
	addr := strings.TrimPrefix(ts.URL, "http://")

	var trs []*trickler
	for range tricklers {
		trs = append(trs, startTrickle(t, addr, tokenA, 300*time.Millisecond))
	}
	// The attack is in place once every upload has trickled a few bytes.
	deadline := time.Now().Add(30 * time.Second)
	for _, tr := range trs {
		for tr.sent.Load() < 2 && time.Now().Before(deadline) {
			select {
			case <-tr.done:
				t.Fatalf("a trickling upload was answered %q before its body timeout", tr.status)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	held := ts.InflightBytes()
	t.Logf("%d uploads trickling, holding %d bytes of the in-flight budget", tricklers, held)

	// Valid clients post while the uploads trickle, until the server has closed
	// every trickling connection.
	allClosed := make(chan struct{})
	go func() {
		for _, tr := range trs {
			<-tr.done
		}
		close(allClosed)
	}()
	var (
		mu       sync.Mutex
		ends     []time.Time // when each valid request was answered
		slowest  time.Duration
		problems []string
	)
	body := jsonBatch(t, nativeEvents(t, 20, 21))
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-allClosed:
					return
				case <-time.After(100 * time.Millisecond):
				}
				start := time.Now()
				a, err := tryPost(client, ts.URL, tokenA, ContentTypeJSON, "", body)
				el := time.Since(start)
				mu.Lock()
				ends = append(ends, time.Now())
				slowest = max(slowest, el)
				switch {
				case err != nil:
					problems = append(problems, err.Error())
				case a.Status != http.StatusAccepted:
					problems = append(problems, fmt.Sprintf("%d %s", a.Status, strings.TrimSpace(truncate(a.Raw, 200))))
				case el > validBound:
					problems = append(problems, fmt.Sprintf("202 after %s", el.Round(time.Millisecond)))
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-allClosed:
	case <-time.After(bodyTimeout + 30*time.Second):
		t.Errorf("the trickling uploads were not all closed within %s", bodyTimeout+30*time.Second)
	}
	wg.Wait()

	firstClose := time.Now()
	for _, tr := range trs {
		select {
		case <-tr.done:
			if tr.closed.Before(firstClose) {
				firstClose = tr.closed
			}
		default:
		}
	}
	mu.Lock()
	total, answered := len(ends), 0
	for _, e := range ends {
		if e.Before(firstClose) {
			answered++
		}
	}
	t.Logf("%d valid requests (%d answered while every upload trickled), slowest %s", total, answered, slowest.Round(time.Millisecond))
	if len(problems) > 0 {
		t.Errorf("%d of %d valid requests were not answered 202 within %s, e.g.:\n%s", len(problems), total, validBound,
			strings.Join(problems[:min(len(problems), 10)], "\n"))
	}
	if answered < 8 {
		t.Errorf("only %d valid requests were sent while every upload trickled; want at least 8", answered)
	}
	mu.Unlock()
	if want := total * 20; p.count() < want-len(problems)*20 {
		t.Errorf("%d records written for %d valid requests of 20 events", p.count(), total)
	}
	for i, tr := range trs {
		select {
		case <-tr.done:
		default:
			continue // reported above
		}
		if !strings.HasPrefix(tr.status, "HTTP/1.1 408") || !strings.Contains(tr.answer, "request body too slow") {
			t.Errorf("trickling upload %d: answered %q (read error %v), want 408 saying the body was too slow", i, tr.answer, tr.err)
		}
		if took := tr.closed.Sub(tr.started); took > bodyTimeout+margin {
			t.Errorf("trickling upload %d (%d bytes sent) was closed after %s, want about the body timeout %s", i, tr.sent.Load(), took.Round(time.Millisecond), bodyTimeout)
		}
	}
	waitInflightZero(t, ts, 10*time.Second)
	if n := counterValue(t, ts.m.slowBodies); n != tricklers {
		t.Errorf("veil_collector_slow_bodies_total = %v, want %d", n, tricklers)
	}
}

// waitInflightZero fails unless the in-flight budget is empty within d.
func waitInflightZero(t testing.TB, ts *testServer, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for ts.InflightBytes() != 0 {
		if time.Now().After(deadline) {
			t.Errorf("in-flight bytes %d after %s, want 0", ts.InflightBytes(), d)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counterValue reads a counter without a scrape (which needs a connection).
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// Above --max-connections a new connection makes room by closing the longest idle
// keep-alive connection; when every connection is busy, it waits unserved until
// the server closes one (here: a trickling upload cut off at --body-timeout).
func TestConnectionCapClosesIdleConnectionsAndQueuesBehindBusyOnes(t *testing.T) {
	const limit = 3
	ts, _ := fakeServer(t, "--max-connections", "3", "--body-timeout", "3s")
	addr := strings.TrimPrefix(ts.URL, "http://")
	body := jsonBatch(t, nativeEvents(t, 5, 31))
	newClient := func() *http.Client { return &http.Client{Transport: &http.Transport{}, Timeout: time.Minute} }
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	idle := func() int {
		ts.conns.mu.Lock()
		defer ts.conns.mu.Unlock()
		return len(ts.conns.idle)
	}

	// Three clients keep their connections open between requests.
	var keepAlive []*http.Client
	for range limit {
		c := newClient()
		keepAlive = append(keepAlive, c)
		if a, err := tryPost(c, ts.URL, tokenA, ContentTypeJSON, "", body); err != nil || a.Status != http.StatusAccepted {
			t.Fatalf("keep-alive client: %v %d %s", err, a.Status, a.Raw)
		}
	}
	waitFor("three idle connections", func() bool { return idle() == limit })
	// A fourth is served without waiting for the idle timeout (2 minutes).
	fourth := newClient()
	keepAlive = append(keepAlive, fourth)
	if a, err := tryPost(fourth, ts.URL, tokenA, ContentTypeJSON, "", body); err != nil || a.Status != http.StatusAccepted {
		t.Fatalf("a client beyond the cap, with idle connections open: %v %d %s", err, a.Status, a.Raw)
	}
	if n, w := ts.conns.reclaimed.Load(), ts.conns.waited.Load(); n != 1 || w != 0 {
		t.Errorf("%d idle connections closed to make room and %d waits, want 1 and 0", n, w)
	}
	for _, c := range keepAlive {
		c.CloseIdleConnections()
	}
	waitFor("every connection closed", func() bool { return ts.conns.open() == 0 })

	// Three uploads trickle and hold every connection.
	var trs []*trickler
	for range limit {
		trs = append(trs, startTrickle(t, addr, tokenA, 300*time.Millisecond))
	}
	waitFor("three trickling uploads open", func() bool { return ts.conns.open() == limit && idle() == 0 })
	behind := newClient()
	a, err := tryPost(behind, ts.URL, tokenA, ContentTypeJSON, "", body)
	cut := counterValue(t, ts.m.slowBodies) // read as soon as the answer came
	if err != nil || a.Status != http.StatusAccepted {
		t.Fatalf("a client behind three trickling uploads: %v %d %s", err, a.Status, a.Raw)
	}
	if cut < 1 {
		t.Error("the client behind the trickling uploads was served before any of them was cut off")
	}
	if w := ts.conns.waited.Load(); w != 1 {
		t.Errorf("veil_collector_connections_waited_total = %d, want 1", w)
	}
	for _, tr := range trs {
		<-tr.done
	}
	behind.CloseIdleConnections()
	waitFor("every connection closed", func() bool { return ts.conns.open() == 0 })
}

// A credential over --rate-limit gets 429 with Retry-After, the time until its
// bucket lets a request through, and nothing of its request is produced; another
// credential is unaffected.
func TestRateLimitAnswers429PerCredential(t *testing.T) {
	ts, p := fakeServer(t, "--rate-limit", "0.1", "--rate-burst", "3") // a request every 10 s, 3 at once
	body := jsonBatch(t, nativeEvents(t, 5, 41))
	for i := range 3 {
		if a := post(t, ts.URL, tokenA, ContentTypeJSON, "", body); a.Status != http.StatusAccepted {
			t.Fatalf("request %d of fleetA within its burst: %d %s", i+1, a.Status, a.Raw)
		}
	}
	a := post(t, ts.URL, tokenA, ContentTypeJSON, "", body)
	if a.Status != http.StatusTooManyRequests || !strings.Contains(a.Body.Error, "--rate-limit") || a.Body.Accepted != 0 {
		t.Fatalf("fleetA over its rate: %d %s, want 429 naming --rate-limit", a.Status, a.Raw)
	}
	if n, err := strconv.Atoi(a.RetryAfter); err != nil || n < 1 || n > 10 {
		t.Errorf("Retry-After %q, want 1 to 10 seconds (one request every 10 s)", a.RetryAfter)
	}
	for i := range 3 {
		if a := post(t, ts.URL, tokenB, ContentTypeJSON, "", body); a.Status != http.StatusAccepted {
			t.Errorf("request %d of fleetB while fleetA is limited: %d %s, want 202", i+1, a.Status, a.Raw)
		}
	}
	if n := p.count(); n != 6*5 {
		t.Errorf("%d records written, want 30 (the 429 wrote nothing)", n)
	}
	m := scrape(t, ts.URL)
	for _, want := range []string{`veil_collector_rate_limited_total{fleet="fleetA"} 1`, `veil_collector_requests_total{code="429",fleet="fleetA"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(m, `veil_collector_rate_limited_total{fleet="fleetB"}`) {
		t.Error("fleetB was counted as rate limited")
	}
}

// Once a body is complete, --body-timeout no longer applies: a handler may wait
// (for Kafka) longer than that, and its request stays alive.
func TestBodyTimeoutEndsWithTheBody(t *testing.T) {
	ts, _ := fakeServer(t, "--body-timeout", "1s")
	ts.Handle("PUT /v1/wait", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-r.Context().Done():
			http.Error(w, "request cancelled while waiting", http.StatusInternalServerError)
		case <-time.After(2500 * time.Millisecond):
			io.WriteString(w, "waited")
		}
	}), true)
	code, body := testenv.Request(t, http.MethodPut, ts.URL+"/v1/wait", tokenA, `{"x": 1}`)
	if code != http.StatusOK || body != "waited" {
		t.Errorf("a request waiting 2.5s after its body, with a body timeout of 1s: %d %q, want 200 waited", code, body)
	}
	if n := counterValue(t, ts.m.slowBodies); n != 0 {
		t.Errorf("veil_collector_slow_bodies_total = %v, want 0", n)
	}
}

// Every installation credential has a bucket of its own, at
// --installation-rate-limit, whatever a relay token's rate is.
func TestInstallationsHaveTheirOwnRate(t *testing.T) {
	ts, p := fakeServer(t, "--installation-rate-limit", "0.1", "--installation-rate-burst", "2", "--rate-limit", "0")
	now := time.Now()
	for _, inst := range []string{"srv-rate-a", "srv-rate-b"} {
		cred := issue(t, inst, now, time.Hour)
		recs := nativeEvents(t, 3, 43)
		for _, r := range recs {
			r["installation_id"] = inst
		}
		body := jsonBatch(t, recs)
		for i := range 2 {
			if a := post(t, ts.URL, cred, ContentTypeJSON, "", body); a.Status != http.StatusAccepted {
				t.Fatalf("%s request %d within its burst: %d %s", inst, i+1, a.Status, a.Raw)
			}
		}
		if a := post(t, ts.URL, cred, ContentTypeJSON, "", body); a.Status != http.StatusTooManyRequests || !strings.Contains(a.Body.Error, "--installation-rate-limit") {
			t.Errorf("%s over its rate: %d %s, want 429 naming --installation-rate-limit", inst, a.Status, a.Raw)
		}
	}
	for i := range 5 { // the relay has no limit here
		if a := post(t, ts.URL, tokenA, ContentTypeJSON, "", jsonBatch(t, nativeEvents(t, 1, 44))); a.Status != http.StatusAccepted {
			t.Errorf("relay request %d: %d %s, want 202", i+1, a.Status, a.Raw)
		}
	}
	if n := p.count(); n != 2*2*3+5 {
		t.Errorf("%d records written, want 17", n)
	}
}
