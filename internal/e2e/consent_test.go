package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/consent"
	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// produceFor writes n raw events of kind from installation straight to the raw topic.
func (h *harness) produceFor(w *kafka.Writer, fleet *simulate.Fleet, installation, kind string, n int) {
	h.t.Helper()
	reg := schemas.MustLoad()
	var msgs []kafka.Message
	for len(msgs) < n {
		k, rec := fleet.Next()
		if k != kind {
			continue
		}
		rec["installation_id"] = installation
		value, err := reg.Latest(schemas.Raw, kind).Encode(nil, rec)
		if err != nil {
			h.t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Topic: h.topics.Raw, Key: []byte(installation), Value: value})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) setConsent(w *kafka.Writer, installation string, optOut ...string) {
	h.t.Helper()
	if err := consent.Publish(context.Background(), w, h.topics.Consent, consent.Record{Installation: installation, OptOut: optOut, UpdatedAt: time.Now()}); err != nil {
		h.t.Fatal(err)
	}
}

func TestOptOutDropsEventsAlreadyInFlightAndOptInRestoresThem(t *testing.T) {
	h := newHarness(t, testenv.Kafka(t), testenv.ClickHouse(t))
	w, err := stream.NewWriter(stream.WriterConfig{Brokers: h.brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fleet := simulate.NewFleet(simulate.Config{Installations: 20, Seed: 5})

	// Events are in the raw topic before the installation opts out...
	h.produceFor(w, fleet, "inst-opting-out", "playback", 50)
	h.produceFor(w, fleet, "inst-opting-out", "crash", 20)
	h.produceFor(w, fleet, "inst-other", "playback", 40)
	h.setConsent(w, "inst-opting-out", "playback")
	// ...and are enriched after it.
	h.startEnricher()
	h.startSink()
	h.waitTables()
	h.waitRows(60, 2*time.Minute)
	if got := h.count("SELECT count() FROM {db}.playback"); got != 40 {
		t.Errorf("playback rows = %d, want only the other installation's 40", got)
	}
	if got := h.count("SELECT count() FROM {db}.crash"); got != 20 {
		t.Errorf("crash rows = %d, want the 20 crash reports of the installation that opted out of playback only", got)
	}

	// Opting back in restores the flow for new events.
	h.setConsent(w, "inst-opting-out")
	time.Sleep(time.Second) // the enricher follows the consent topic with a 100ms fetch wait
	h.produceFor(w, fleet, "inst-opting-out", "playback", 30)
	h.waitRows(90, 2*time.Minute)
	if got := h.count("SELECT count() FROM {db}.playback"); got != 70 {
		t.Errorf("playback rows after opting back in = %d, want 40 + 30", got)
	}
	if got := h.count("SELECT uniqExact(installation_id) FROM {db}.playback"); got != 2 {
		t.Errorf("playback comes from %d pseudonymous installations, want 2", got)
	}
}
