package producer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// producer simulate on real Kafka: every event it counts as sent is in the raw
// topic once, decodes with its raw schema, is keyed by its installation, and
// carries the schema's fingerprint header.
func TestSimulateWritesDecodableKeyedEvents(t *testing.T) {
	brokers := testenv.Kafka(t)
	tp := testenv.Topics(t, brokers, 4)
	var cfg SimulateConfig
	testenv.Configure(t, cfg.Register, append(testenv.KafkaArgs(brokers, tp), "--count", "5003", "--chunk", "700", "--workers", "3", "--installations", "40")...)
	sum, err := Simulate(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 5003 || sum.Failed != 0 {
		t.Fatalf("summary %+v, want 5003 sent and none failed", sum)
	}
	reg := schemas.MustLoad()
	msgs := testenv.ReadAll(t, brokers, tp.Raw)
	if len(msgs) != 5003 {
		t.Fatalf("%d records in the raw topic, want 5003", len(msgs))
	}
	ids := map[string]bool{}
	kinds := map[string]int{}
	for _, m := range msgs {
		s, rec, err := reg.Decode(m.Value)
		if err != nil {
			t.Fatalf("offset %d: %v", m.Offset, err)
		}
		if s.Stage != schemas.Raw {
			t.Fatalf("offset %d: a %s record", m.Offset, s.Stage)
		}
		if got := string(m.Key); got != rec["installation_id"] {
			t.Fatalf("offset %d: key %q, installation %q", m.Offset, got, rec["installation_id"])
		}
		if got := stream.Header(m, stream.HeaderFingerprint); got != s.FingerprintHex() {
			t.Fatalf("offset %d: fingerprint header %q, schema %s", m.Offset, got, s.FingerprintHex())
		}
		if err := schemas.Validate(s, rec, schemas.WindowAt(time.Now(), 0)); err != nil {
			t.Fatalf("offset %d: %v", m.Offset, err)
		}
		ids[rec["event_id"].(string)] = true
		kinds[s.Kind]++
	}
	if len(ids) != 5003 {
		t.Errorf("%d distinct event ids in 5003 records", len(ids))
	}
	if len(kinds) < 4 {
		t.Errorf("event kinds %v: want the fleet's mix", kinds)
	}
}

// With Kafka down, an interrupted simulation stops retrying at once, counts
// what it was writing as not acknowledged and says what was never sent. It
// needs no Kafka: the broker address is one nothing answers on.
func TestSimulateInterruptedWhileKafkaIsDownStopsAndSaysWhatWasNotSent(t *testing.T) {
	for name, addr := range map[string]string{"refused": testenv.ClosedAddr(t), "silent": testenv.SilentAddr(t)} {
		t.Run(name, func(t *testing.T) {
			var cfg SimulateConfig
			testenv.Configure(t, cfg.Register, "--brokers", addr, "--count", "5000", "--chunk", "500", "--workers", "2", "--retry-for", "2m")
			ctx, cancel := context.WithCancelCause(context.Background())
			time.AfterFunc(500*time.Millisecond, func() { cancel(errors.New("interrupted by test")) })
			type result struct {
				s   Summary
				err error
			}
			done := make(chan result, 1)
			go func() {
				s, err := Simulate(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard)
				done <- result{s, err}
			}()
			select {
			case r := <-done:
				if r.s.Sent != 0 || r.s.Failed == 0 {
					t.Errorf("summary %v: want nothing acknowledged and the chunks in hand failed", r.s)
				}
				if r.err == nil || !strings.Contains(r.err.Error(), "interrupted by test") || !strings.Contains(r.err.Error(), "never sent") {
					t.Errorf("error %v: want the interruption and what was never sent", r.err)
				}
			case <-time.After(30 * time.Second): // far below --retry-for
				t.Fatal("Simulate kept retrying after it was interrupted")
			}
		})
	}
}
