package loadgen

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/testenv"
)

// Interrupted while the collector does not answer, a run ends its requests
// after the drain instead of their --timeout, and says it was interrupted. No
// collector is needed: the address accepts connections and never answers.
func TestRunInterruptedWhileTheCollectorHangsEndsItsRequests(t *testing.T) {
	cfg := Config{URL: "http://" + testenv.SilentAddr(t), Token: token, Clients: 2, Batch: 10, Duration: time.Hour,
		Installations: 20, Seed: 1, Pool: 1, Timeout: time.Hour}
	stop := errors.New("interrupted by test")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(300*time.Millisecond, func() { cancel(stop) })
	done := make(chan error, 1)
	var rep Report
	go func() {
		var err error
		rep, err = Run(ctx, cfg, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, stop) || !strings.Contains(err.Error(), "so far") {
			t.Errorf("Run = %v, want the interruption", err)
		}
		if rep.Requests != 2 || rep.Errors != 2 {
			t.Errorf("report: %d requests, %d without an answer; want the 2 in flight, unanswered", rep.Requests, rep.Errors)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run waited for requests to a collector that never answers")
	}
}
