package collector

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// Run serves until its context ends, drains and flushes: what it answered 202 is
// in the raw topic when it returns, and mounted endpoints were reachable.
func TestRunServesUntilCancelledAndFlushes(t *testing.T) {
	brokers := testenv.Kafka(t)
	tp := testenv.Topics(t, brokers, 2)
	addr := testenv.FreeAddr(t)
	cfg := testConfig(t, append(testenv.KafkaArgs(brokers, tp), "--listen", addr)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	mounted := false
	go func() {
		done <- Run(ctx, cfg, slog.New(slog.NewTextHandler(&testLog{t: t}, nil)), obs.NewRegistry(), func(s *Server) error {
			mounted = true
			s.Handle("GET /privacy", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), false)
			return nil
		})
	}()
	url := "http://" + addr
	testenv.WaitReady(t, url, 10*time.Second)
	if resp, err := http.Get(url + "/privacy"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("mounted endpoint: %v %v", resp, err)
	}
	recs := nativeEvents(t, 100, 60)
	if a := post(t, url, tokenA, "application/json", "", jsonBatch(t, recs)); a.Status != http.StatusAccepted {
		t.Fatalf("POST = %d %s", a.Status, a.Raw)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if !mounted {
		t.Error("the mount function was not called")
	}
	got := rawRecords(t, brokers, tp.Raw)
	for _, r := range recs {
		if _, ok := got[r["event_id"].(string)]; !ok {
			t.Errorf("event %s answered 202 is not in the raw topic", r["event_id"])
		}
	}
}
