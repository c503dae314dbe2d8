package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// intakeHarness runs the /v1/events handler in process with a writer that
// acknowledges everything, for the fuzzers and the benchmark.
type intakeHarness struct {
	s   *Server
	p   *fakeProducer
	reg *schemas.Registry
}

func newIntakeHarness(t testing.TB) *intakeHarness {
	p := &fakeProducer{}
	reg := schemas.MustLoad()
	s, err := New(testConfig(t), Deps{Schemas: reg, Batched: p, Single: p, Topics: stream.DefaultTopics(), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	return &intakeHarness{s: s, p: p, reg: reg}
}

// post runs one request and checks the invariants every answer must keep: the
// status is 202 or a 4xx (the writer never fails here), the body is the JSON
// response, 202 means at least one event was written and exactly the accepted
// ones were, anything else wrote nothing, and every written record decodes to a
// valid raw event keyed by its installation.
func (h *intakeHarness) post(t testing.TB, contentType string, body []byte) {
	h.p.mu.Lock()
	h.p.msgs = h.p.msgs[:0]
	h.p.mu.Unlock()
	req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tokenA)
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.s.Handler().ServeHTTP(rec, req)
	var resp response
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("status %d with a body that is not the JSON response: %v: %q", rec.Code, err, rec.Body.String())
	}
	written := h.p.count()
	switch {
	case rec.Code == http.StatusAccepted:
		if resp.Accepted < 1 || resp.Accepted != written || resp.Rejected != len(resp.Errors) {
			t.Fatalf("202 with accepted %d, rejected %d, %d errors, %d records written", resp.Accepted, resp.Rejected, len(resp.Errors), written)
		}
	case rec.Code >= 400 && rec.Code < 500 && rec.Code != http.StatusUnauthorized:
		if resp.Accepted != 0 || written != 0 {
			t.Fatalf("status %d but accepted %d and %d records written", rec.Code, resp.Accepted, written)
		}
		if resp.Error == "" && len(resp.Errors) == 0 {
			t.Fatalf("status %d without a reason", rec.Code)
		}
	default:
		t.Fatalf("status %d (%s); want 202 or a 4xx", rec.Code, rec.Body.String())
	}
	for _, e := range resp.Errors {
		if e.Error == "" || e.Index < 0 {
			t.Fatalf("rejection without a reason or index: %+v", e)
		}
	}
	now := time.Now()
	for _, m := range h.p.msgs {
		sch, r, err := h.reg.Decode(m.Value)
		if err != nil {
			t.Fatalf("written record does not decode: %v", err)
		}
		if err := schemas.Validate(sch, r, schemas.WindowAt(now, 0)); err != nil {
			t.Fatalf("written record is invalid: %v", err)
		}
		if string(m.Key) != r["installation_id"] || stream.Header(m, stream.HeaderProducedBy) != "collector" {
			t.Fatalf("written record keyed %q with headers %v", m.Key, m.Headers)
		}
	}
}

// FuzzJSONIntake posts arbitrary JSON bodies: the intake never panics and answers
// either 202 for what it wrote or a 4xx with a reason. Seeds: the fixtures of the
// bad input table and testdata/fuzz/FuzzJSONIntake.
func FuzzJSONIntake(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(jsonMixed(f, mixedEvents(f, 5, 40)))
	f.Add([]byte(`{"events":[{"kind":"playback","event_id":"\ud800","event_time":-1e3}]}`))
	h := newIntakeHarness(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		h.post(t, ContentTypeJSON, body)
	})
}

// FuzzAvroIntake does the same for framed Avro bodies.
func FuzzAvroIntake(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.avro"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	reg := schemas.MustLoad()
	var frames [][]byte
	for _, e := range mixedEvents(f, 5, 41) {
		b, err := reg.Latest(schemas.Raw, e.kind).Encode(nil, e.rec)
		if err != nil {
			f.Fatal(err)
		}
		frames = append(frames, b)
	}
	f.Add(avroBatch(frames...))
	h := newIntakeHarness(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		h.post(t, ContentTypeAvro, body)
	})
}

// The committed seed corpus is regenerated from the fixtures with -update.
func TestFuzzSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzJSONIntake")
	if *update {
		seeds := map[string][]byte{
			"every-kind":         jsonMixed(t, mixedEvents(t, 6, 42)),
			"nested-and-escaped": []byte(`{"events":[{"kind":"playback","title":"\u00e9\"\\\n","event_time":1e3,"x":{"y":[1,2,{"z":null}]}}]}`),
			"deep-nesting":       []byte(`{"events":[` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `]}`),
			"duplicate-keys":     []byte(`{"events":[{"kind":"playback","kind":"crash","event_id":"a","event_id":""}],"events":[]}`),
			"huge-numbers":       []byte(`{"events":[{"kind":"playback","duration_ms":1e400,"bitrate_kbps":-0,"size_bytes":-9223372036854775809}]}`),
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) < 5 {
		t.Errorf("%s holds %d seeds, want at least 5 (go test -run TestFuzzSeedCorpus -update writes them)", dir, len(files))
	}
}

// BenchmarkJSONIntake measures the handler's CPU per event, without Kafka: decode,
// validate, encode, with a writer that acknowledges at once.
func BenchmarkJSONIntake(b *testing.B) {
	h := newIntakeHarness(b)
	body := jsonBatch(b, nativeEvents(b, 500, 50))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		h.p.msgs = h.p.msgs[:0]
		req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokenA)
		req.Header.Set("Content-Type", ContentTypeJSON)
		rec := httptest.NewRecorder()
		h.s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "events/s")
}
