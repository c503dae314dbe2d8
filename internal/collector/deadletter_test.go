package collector

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// A record Kafka refuses on its own goes to the dead-letter topic with the
// collector's headers and is reported rejected; the records that shared its batch
// are still accepted.
func TestRecordKafkaRefusesIsDeadLettered(t *testing.T) {
	brokers := testenv.Kafka(t)
	id := testenv.Unique("t")
	tp := stream.Topics{Raw: id + ".raw", Clean: id + ".clean", Consent: id + ".consent", DeadLetter: id + ".deadletter"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The raw topic takes at most 4 KiB per batch: a batch of many small events is
	// refused as a whole, and one big event is refused on its own.
	client := brokers.Client(30 * time.Second)
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: tp.Raw, NumPartitions: 2, ReplicationFactor: -1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "4096"}},
	}}})
	if err != nil || resp.Errors[tp.Raw] != nil {
		t.Fatalf("create %s: %v %v", tp.Raw, err, resp)
	}
	if err := stream.EnsureTopics(ctx, brokers, tp.Specs(2)); err != nil {
		t.Fatal(err)
	}
	testenv.DeleteAtEnd(t, brokers, tp)
	ts := kafkaServerOn(t, brokers, tp)

	recs := nativeEvents(t, 51, 30)
	big := recs[17]
	for _, k := range []string{"title", "file_path", "library_name", "player_name"} {
		big[k] = randomText(3000) // incompressible, within schemas.MaxString
	}
	a := post(t, ts.URL, tokenA, "application/json", "", jsonBatch(t, recs))
	if a.Status != http.StatusAccepted || a.Body.Accepted != 50 || a.Body.Rejected != 1 {
		t.Fatalf("POST = %d %s, want 202 with 50 accepted and 1 rejected", a.Status, a.Raw)
	}
	e := a.Body.Errors[0]
	if e.Index != 17 || e.EventID != big["event_id"] || !strings.Contains(e.Error, "Kafka refused the record (it was written to the dead-letter topic)") ||
		!strings.Contains(e.Error, "Message Size Too Large") {
		t.Errorf("rejection %+v, want index 17, its id, and Kafka's refusal", e)
	}

	// Kafka refused whole batches, so the small events went again one by one.
	if n := ts.single.Stats().Messages; n < 10 {
		t.Errorf("the single-record writer wrote %d records; want the refused batch's events retried one by one", n)
	}
	raw := rawRecords(t, brokers, tp.Raw)
	if len(raw) != 50 {
		t.Errorf("raw topic holds %d events, want 50", len(raw))
	}
	if _, ok := raw[big["event_id"].(string)]; ok {
		t.Error("the refused event is in the raw topic")
	}
	dl := testenv.ReadAll(t, brokers, tp.DeadLetter)
	if len(dl) != 1 {
		t.Fatalf("dead-letter topic holds %d records, want 1", len(dl))
	}
	m := dl[0]
	for k, want := range map[string]string{
		stream.HeaderStage: "collector", stream.HeaderReason: "refused", stream.HeaderSourceTopic: tp.Raw,
		stream.HeaderSourcePartition: "-1", stream.HeaderSourceOffset: "-1",
		stream.HeaderContentType: stream.AvroContentType, stream.HeaderProducedBy: "collector",
		stream.HeaderFingerprint: schemas.MustLoad().Latest(schemas.Raw, "playback").FingerprintHex(),
	} {
		if v := stream.Header(m, k); v != want {
			t.Errorf("dead letter header %s = %q, want %q", k, v, want)
		}
	}
	if v := stream.Header(m, stream.HeaderError); !strings.Contains(v, "Message Size Too Large") {
		t.Errorf("dead letter error header %q, want Kafka's refusal", v)
	}
	if _, err := time.Parse(time.RFC3339Nano, stream.Header(m, stream.HeaderTime)); err != nil {
		t.Errorf("dead letter time header: %v", err)
	}
	_, rec, err := schemas.MustLoad().Decode(m.Value)
	if err != nil || rec["event_id"] != big["event_id"] || rec["title"] != big["title"] || string(m.Key) != big["installation_id"] {
		t.Errorf("dead letter holds %v (key %q, err %v), want the refused event keyed by its installation", rec["event_id"], m.Key, err)
	}
	metrics := scrape(t, ts.URL)
	for _, want := range []string{"veil_collector_events_deadlettered_total 1", `veil_collector_events_rejected_total{reason="refused"} 1`,
		`veil_collector_events_accepted_total{fleet="fleetA"} 50`} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// An encoded record over --max-record-bytes is refused before Kafka sees it.
func TestRecordOverMaxRecordBytesIsRejected(t *testing.T) {
	ts, p := fakeServer(t, "--max-record-bytes", "2KiB")
	recs := nativeEvents(t, 3, 31)
	recs[1]["title"] = randomText(3000)
	a := post(t, ts.URL, tokenA, "application/json", "", jsonBatch(t, recs))
	if a.Status != http.StatusAccepted || a.Body.Accepted != 2 || len(a.Body.Errors) != 1 ||
		a.Body.Errors[0].Index != 1 || !strings.Contains(a.Body.Errors[0].Error, "exceeds --max-record-bytes (2048)") {
		t.Fatalf("POST = %d %s, want 202 with event 1 rejected as too large", a.Status, a.Raw)
	}
	if p.count() != 2 {
		t.Errorf("%d records written, want 2", p.count())
	}
}

func randomText(n int) string {
	b := make([]byte, n*3/4+3)
	_, _ = rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)[:n]
}
