package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/producer"
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
		k, rec, err := fleet.Next()
		if err != nil {
			h.t.Fatal(err)
		}
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

// startCollector runs `producer serve` in this process and returns its URL once
// it is ready.
func (h *harness) startCollector() string {
	h.t.Helper()
	addr := testenv.FreeAddr(h.t)
	var cfg producer.ServeConfig
	testenv.Configure(h.t, cfg.Register, append(testenv.KafkaArgs(h.cluster("collector"), h.topics), "--listen", addr, "--tokens-file", testenv.File(h.t, "tokens", "e2e:relay:"+collectorToken+"\ne2e-ops:operator:"+operatorToken))...)
	h.run("collector", func(ctx context.Context) error {
		return producer.Serve(ctx, cfg, h.log.With("bin", "producer"), prometheus.NewRegistry())
	})
	url := "http://" + addr
	testenv.WaitReady(h.t, url, 20*time.Second)
	return url
}

// The collector's tokens: a relay's, which posts the tests' events (they name
// many installations), and an operator's, which sets their opt-outs.
const (
	collectorToken = "e2e-token-0123456789"
	operatorToken  = "e2e-operator-token-0123456789"
)

// setConsent changes an installation's opt-outs the way users do: PUT
// /v1/consent/{installation} on the producer, which answers once Kafka has the
// record.
func (h *harness) setConsent(url, installation string, optOut ...string) {
	h.t.Helper()
	if optOut == nil {
		optOut = []string{}
	}
	body, _ := json.Marshal(map[string]any{"opt_out": optOut})
	req, _ := http.NewRequest(http.MethodPut, url+"/v1/consent/"+installation, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("PUT consent = %s %s", resp.Status, got)
	}
}

func TestOptOutDropsEventsAlreadyInFlightAndOptInRestoresThem(t *testing.T) {
	h := newHarness(t, testenv.Kafka(t), testenv.ClickHouse(t))
	w, err := stream.NewWriter(stream.WriterConfig{Cluster: h.brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fleet := simulate.NewFleet(simulate.Config{Installations: 20, Seed: 5})

	// Events are in the raw topic before the installation opts out...
	h.produceFor(w, fleet, "inst-opting-out", "playback", 50)
	h.produceFor(w, fleet, "inst-opting-out", "crash", 20)
	h.produceFor(w, fleet, "inst-other", "playback", 40)
	url := h.startCollector()
	h.setConsent(url, "inst-opting-out", "playback")
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
	h.setConsent(url, "inst-opting-out")
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
