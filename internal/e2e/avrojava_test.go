package e2e

import (
	"bytes"
	"context"
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/collector"
	"github.com/veiltelemetry/veil/internal/producer"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// TestAvroJavaWritesToTheCollectorAndReadsTheCleanTopic checks the wire format
// against Avro's reference implementation. Avro Java's BinaryMessageEncoder
// writes raw records of every kind; the HTTP collector accepts them (202) and
// writes them to the raw topic byte for byte; the enricher cleans them; and Avro
// Java's BinaryMessageDecoder reads every clean record, finding the same values
// as Veil. Both sides select schemas by the fingerprint in the record, so this
// holds only while Veil fingerprints the specification's canonical form: with
// goavro's form, the collector refused every record of a Java producer as an
// unknown fingerprint, and a Java consumer refused every clean record.
func TestAvroJavaWritesToTheCollectorAndReadsTheCleanTopic(t *testing.T) {
	java := testenv.Java(t)
	h := newHarness(t, testenv.Kafka(t), chstore.Options{})
	reg := schemas.MustLoad()

	// Two records of every kind, from the examples of its raw schema, written by Avro Java.
	type sentEvent struct {
		kind         string
		installation string
		eventTime    int64
	}
	sent := map[string]sentEvent{} // by event id
	var recs []testenv.JavaRecord
	var writers []*schemas.Schema
	now := time.Now().UnixMilli()
	for _, kind := range reg.Kinds() {
		raw := reg.Latest(schemas.Raw, kind)
		for i := range 2 {
			ev := sentEvent{kind: kind, installation: "java-" + uuid.NewString(), eventTime: now - int64(i)*3_600_000}
			rec := map[string]any{}
			for _, f := range raw.Fields {
				rec[f.Name] = f.Example
			}
			id := uuid.NewString()
			rec["event_id"], rec["installation_id"], rec["event_time"] = id, ev.installation, ev.eventTime
			b, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			sent[id] = ev
			recs = append(recs, testenv.JavaRecord{Schema: "schemas/" + raw.File, JSON: string(b)})
			writers = append(writers, raw)
		}
	}
	msgs := java.Encode(recs)
	var body []byte
	for i, m := range msgs {
		if !bytes.HasPrefix(m, writers[i].Header()) {
			t.Errorf("Avro Java's %s record starts with % x; Veil's header for the schema is % x", writers[i].Kind, m[:min(10, len(m))], writers[i].Header())
		}
		body = bin.BigEndian.AppendUint32(body, uint32(len(m)))
		body = append(body, m...)
	}

	// The real collector, on the harness's topics.
	addr := testenv.FreeAddr(t)
	const token = "java-fleet-token-0123456789"
	var ccfg producer.ServeConfig
	testenv.Configure(t, ccfg.Register, append(testenv.KafkaArgs(h.brokers, h.topics), "--listen", addr, "--tokens-file", testenv.File(t, "tokens", "java:relay:"+token))...)
	h.run("collector", func(ctx context.Context) error {
		return producer.Serve(ctx, ccfg, h.log.With("bin", "collector"), prometheus.NewRegistry())
	})
	url := "http://" + addr
	testenv.WaitReady(t, url, time.Minute)
	status, answer := postAvro(t, url+"/v1/events", token, body)
	var res struct{ Accepted, Rejected int }
	if err := json.Unmarshal([]byte(answer), &res); err != nil || status != http.StatusAccepted || res.Accepted != len(msgs) || res.Rejected != 0 {
		t.Fatalf("POST of %d Avro Java records = %d %s, want 202 with all accepted", len(msgs), status, answer)
	}

	// The collector wrote what Java wrote: every field was set, so it filled in nothing.
	byID := map[string][]byte{}
	for i, r := range recs {
		var v struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal([]byte(r.JSON), &v); err != nil {
			t.Fatal(err)
		}
		byID[v.EventID] = msgs[i]
	}
	raw := testenv.ReadAll(t, h.brokers, h.topics.Raw)
	if len(raw) != len(msgs) {
		t.Fatalf("raw topic holds %d records, want %d", len(raw), len(msgs))
	}
	for _, m := range raw {
		s, rec, err := reg.Decode(m.Value)
		if err != nil {
			t.Fatalf("raw record at offset %d: %v", m.Offset, err)
		}
		id := rec["event_id"].(string)
		if !bytes.Equal(m.Value, byID[id]) {
			t.Errorf("raw record %s differs from what Avro Java wrote:\n got % x\nwant % x", id, m.Value, byID[id])
		}
		if fp := stream.Header(m, stream.HeaderFingerprint); fp != s.FingerprintHex() {
			t.Errorf("raw record %s: header %s = %s, want %s", id, stream.HeaderFingerprint, fp, s.FingerprintHex())
		}
	}

	// The real enricher cleans every one of them.
	h.startEnricher()
	var clean []kafka.Message
	testenv.Eventually(t, time.Minute, fmt.Sprintf("%d clean records", len(msgs)), func() (bool, string) {
		clean = testenv.ReadAll(t, h.brokers, h.topics.Clean)
		return len(clean) >= len(msgs), fmt.Sprintf("%d clean records", len(clean))
	})
	if dl := testenv.ReadAll(t, h.brokers, h.topics.DeadLetter); len(dl) != 0 {
		t.Fatalf("dead-letter topic holds %d records, want 0; first: %s %s", len(dl), stream.Header(dl[0], stream.HeaderReason), stream.Header(dl[0], stream.HeaderError))
	}

	// Avro Java reads every clean record with the clean schema of its kind. The
	// first record again, with goavro's legacy fingerprint in its header, is refused:
	// the decoder does select by fingerprint.
	var files []string
	var values [][]byte
	for _, m := range clean {
		s, err := reg.Writer(m.Value)
		if err != nil {
			t.Fatalf("clean record at offset %d: %v", m.Offset, err)
		}
		files, values = append(files, "schemas/"+s.File), append(values, m.Value)
	}
	first, _ := reg.Writer(clean[0].Value)
	legacy := append(bin.LittleEndian.AppendUint64([]byte{0xC3, 0x01}, first.LegacyFingerprint), clean[0].Value[10:]...)
	decoded := java.Decode(append(files, files[0]), append(values, legacy))
	if got := decoded[len(clean)]; !strings.Contains(got, "MissingSchemaException") {
		t.Errorf("Avro Java decoded a clean record with the legacy fingerprint: %s; want a MissingSchemaException", got)
	}

	seen := map[string]bool{}
	for i, m := range clean {
		s, rec, err := reg.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(decoded[i], "error: ") {
			t.Errorf("Avro Java refuses the clean %s record at offset %d: %s", s.Kind, m.Offset, decoded[i])
			continue
		}
		dec := json.NewDecoder(strings.NewReader(decoded[i]))
		dec.UseNumber()
		var got map[string]any
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("Avro Java's JSON %q: %v", decoded[i], err)
		}
		id, _ := got["event_id"].(string)
		ev, ok := sent[id]
		if !ok || seen[id] {
			t.Errorf("Avro Java read event id %q: not sent, or read twice", id)
			continue
		}
		seen[id] = true
		// What the policy promises, as Java reads it.
		hour := ev.eventTime - ev.eventTime%3_600_000
		if s.Kind != ev.kind || fmt.Sprint(got["event_hour"]) != fmt.Sprint(hour) {
			t.Errorf("event %s: Avro Java read a %s record with event_hour %v; sent a %s event at %d (hour %d)", id, s.Kind, got["event_hour"], ev.kind, ev.eventTime, hour)
		}
		if inst, _ := got["installation_id"].(string); inst == "" || strings.Contains(inst, ev.installation) {
			t.Errorf("event %s: installation_id %q as Avro Java reads it, want a pseudonym of %q", id, inst, ev.installation)
		}
		// Every field, as Veil reads it.
		if len(got) != len(s.Fields) {
			t.Errorf("event %s: Avro Java read %d fields, the clean schema has %d", id, len(got), len(s.Fields))
		}
		for _, f := range s.Fields {
			want := rec[f.Name]
			if tm, ok := want.(time.Time); ok {
				want = tm.UnixMilli()
			}
			if g := fmt.Sprint(got[f.Name]); g != fmt.Sprint(want) {
				t.Errorf("event %s: field %s is %s to Avro Java and %v to Veil", id, f.Name, g, want)
			}
		}
	}
	if len(seen) != len(sent) {
		t.Errorf("Avro Java read %d of the %d events sent", len(seen), len(sent))
	}
}

// postAvro posts a body of framed Avro records with a bearer token.
func postAvro(t *testing.T, url, token string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", collector.ContentTypeAvro)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
