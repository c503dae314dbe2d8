package consent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/schemas"
)

// recorder is an in-process Writer for these unit tests; the producer's test
// runs the API against real Kafka.
type recorder struct {
	mu   sync.Mutex
	msgs []kafka.Message
	err  error
}

func (r *recorder) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.msgs = append(r.msgs, msgs...)
	return nil
}

func newTestAPI(w Writer, loaded <-chan struct{}) (*API, http.Handler) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	a := &API{Writer: w, Topic: "consent", Store: NewStore(), Loaded: loaded, Now: func() time.Time { return at }}
	mux := http.NewServeMux()
	a.Register(func(p string, h http.Handler) { mux.Handle(p, h) })
	return a, mux
}

func do(t *testing.T, h http.Handler, method, path, contentType, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %q", method, path, rec.Body.String())
	}
	return rec.Code, got, rec.Header()
}

func TestPutWritesTheRecordAndGetReadsIt(t *testing.T) {
	w := &recorder{}
	_, h := newTestAPI(w, nil)
	code, got, _ := do(t, h, "PUT", "/v1/consent/inst-1", "application/json", `{"opt_out":["playback","crash","playback"]}`)
	if code != http.StatusOK {
		t.Fatalf("PUT = %d %v", code, got)
	}
	if len(w.msgs) != 1 {
		t.Fatalf("wrote %d records, want 1", len(w.msgs))
	}
	m := w.msgs[0]
	var rec Record
	if err := json.Unmarshal(m.Value, &rec); err != nil {
		t.Fatal(err)
	}
	if m.Topic != "consent" || string(m.Key) != "inst-1" || !slices.Equal(rec.OptOut, []string{"crash", "playback"}) || rec.UpdatedAt.IsZero() {
		t.Errorf("record = topic %q key %q %+v; want consent/inst-1 with [crash playback] (sorted, deduplicated) and a time", m.Topic, m.Key, rec)
	}
	code, got, _ = do(t, h, "GET", "/v1/consent/inst-1", "", "")
	if code != http.StatusOK || !equalList(got["opt_out"], "crash", "playback") || !equalList(got["categories"], "playback", "crash", "marketing") {
		t.Errorf("GET = %d %v", code, got)
	}

	// An empty list opts back in: a tombstone, and nothing opted out.
	if code, got, _ = do(t, h, "PUT", "/v1/consent/inst-1", "", `{"opt_out":[]}`); code != http.StatusOK {
		t.Fatalf("PUT [] = %d %v", code, got)
	}
	if last := w.msgs[len(w.msgs)-1]; last.Value != nil {
		t.Errorf("opting in wrote %q, want a tombstone (no value) so compaction forgets the installation", last.Value)
	}
	if code, got, _ = do(t, h, "GET", "/v1/consent/inst-1", "", ""); code != http.StatusOK || !equalList(got["opt_out"]) {
		t.Errorf("GET after opting in = %d %v, want opt_out []", code, got)
	}
}

func TestBadRequestsNameTheProblemAndWriteNothing(t *testing.T) {
	for _, tc := range []struct {
		name, path, ct, body string
		code                 int
		want                 string
	}{
		{"unknown category", "/v1/consent/i", "application/json", `{"opt_out":["ads"]}`, 400, `unknown category "ads"`},
		{"missing list", "/v1/consent/i", "application/json", `{}`, 400, `"opt_out" is required`},
		{"null list", "/v1/consent/i", "application/json", `{"opt_out":null}`, 400, `"opt_out" is required`},
		{"unknown field", "/v1/consent/i", "application/json", `{"opt_out":[],"optout":["crash"]}`, 400, `unknown field "optout"`},
		{"not JSON", "/v1/consent/i", "application/json", `opt_out=crash`, 400, "body:"},
		{"wrong type", "/v1/consent/i", "application/json", `{"opt_out":"crash"}`, 400, "body:"},
		{"wrong content type", "/v1/consent/i", "text/plain", `{"opt_out":[]}`, 415, "want application/json"},
		{"too long id", "/v1/consent/" + strings.Repeat("x", schemas.MaxID+1), "", `{"opt_out":[]}`, 400, "installation_id must be 1-128 bytes, got 129"},
		{"space in id", "/v1/consent/a%20b", "", `{"opt_out":[]}`, 400, "installation_id may hold only letters, digits"},
		{"e-mail as id", "/v1/consent/dana@example.org", "", `{"opt_out":[]}`, 400, "installation_id may hold only letters, digits"},
		{"path as id", "/v1/consent/%2Fhome%2Fdana", "", `{"opt_out":[]}`, 400, "installation_id may hold only letters, digits"},
		{"huge body", "/v1/consent/i", "", `{"opt_out":[` + strings.Repeat(`"crash",`, 10000) + `"crash"]}`, 413, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &recorder{}
			_, h := newTestAPI(w, nil)
			code, got, _ := do(t, h, "PUT", tc.path, tc.ct, tc.body)
			msg, _ := got["error"].(string)
			if code != tc.code || !strings.Contains(msg, tc.want) {
				t.Errorf("PUT = %d %q, want %d containing %q", code, msg, tc.code, tc.want)
			}
			if len(w.msgs) != 0 {
				t.Errorf("a rejected request wrote %d records", len(w.msgs))
			}
		})
	}
}

func TestUnavailableWhileLoadingOrWhenKafkaFails(t *testing.T) {
	loaded := make(chan struct{})
	w := &recorder{err: errors.New("broker down")}
	a, h := newTestAPI(w, loaded)
	code, got, hdr := do(t, h, "GET", "/v1/consent/i", "", "")
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "1" || !strings.Contains(got["error"].(string), "loading") {
		t.Errorf("GET while loading = %d %v Retry-After %q", code, got, hdr.Get("Retry-After"))
	}
	close(loaded)
	code, got, hdr = do(t, h, "PUT", "/v1/consent/i", "", `{"opt_out":["crash"]}`)
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(got["error"].(string), "broker down") {
		t.Errorf("PUT with Kafka failing = %d %v", code, got)
	}
	if a.Store.OptedOut("i", "crash") {
		t.Error("a PUT Kafka did not acknowledge changed the store")
	}
}

func equalList(v any, want ...string) bool {
	l, ok := v.([]any)
	if !ok || len(l) != len(want) {
		return false
	}
	for i := range l {
		if l[i] != want[i] {
			return false
		}
	}
	return true
}
