package collector

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// Accepted JSON events are in the raw topic, keyed by installation, with the
// pipeline's headers; the collector kept client ids, assigned missing ones and
// filled client_ip from the connection.
func TestAcceptedJSONEventsAreInTheRawTopic(t *testing.T) {
	ts, brokers := kafkaServer(t)
	recs := nativeEvents(t, 300, 1)
	sent := map[string]map[string]any{} // by client id; "" for the anonymous ones
	var anonymous []map[string]any
	for i, r := range recs {
		if i%3 == 0 { // no event_id, no client_ip: the collector fills both
			delete(r, "event_id")
			delete(r, "client_ip")
			anonymous = append(anonymous, r)
			continue
		}
		sent[r["event_id"].(string)] = r
	}
	a := post(t, ts.URL, tokenA, "application/json", "", jsonBatch(t, recs))
	if a.Status != http.StatusAccepted || a.Body.Accepted != len(recs) || a.Body.Rejected != 0 {
		t.Fatalf("POST = %d %s, want 202 with %d accepted", a.Status, a.Raw, len(recs))
	}
	got := rawRecords(t, brokers, ts.Topics.Raw)
	if len(got) != len(recs) {
		t.Fatalf("raw topic holds %d distinct events, want %d", len(got), len(recs))
	}
	fp := schemas.MustLoad().Latest(schemas.Raw, "playback").FingerprintHex()
	assigned := 0
	for id, r := range got {
		if string(r.msg.Key) != r.rec["installation_id"] {
			t.Errorf("event %s: key %q, want its installation_id %q", id, r.msg.Key, r.rec["installation_id"])
		}
		for k, want := range map[string]string{stream.HeaderContentType: stream.AvroContentType, stream.HeaderFingerprint: fp, stream.HeaderProducedBy: "collector"} {
			if v := stream.Header(r.msg, k); v != want {
				t.Errorf("event %s: header %s = %q, want %q", id, k, v, want)
			}
		}
		want, ok := sent[id]
		if !ok {
			if _, err := uuid.Parse(id); err != nil {
				t.Errorf("event id %q was neither sent nor a UUID the collector assigned", id)
			}
			if r.rec["client_ip"] != "127.0.0.1" {
				t.Errorf("event %s without client_ip: got %q, want the connection's 127.0.0.1", id, r.rec["client_ip"])
			}
			assigned++
			continue
		}
		for _, k := range []string{"installation_id", "client_ip", "title", "file_path", "duration_ms", "bitrate_kbps", "device_type", "playback_event"} {
			if r.rec[k] != want[k] {
				t.Errorf("event %s: %s = %#v, want %#v", id, k, r.rec[k], want[k])
			}
		}
		if !r.rec["event_time"].(time.Time).Equal(want["event_time"].(time.Time).Truncate(time.Millisecond)) {
			t.Errorf("event %s: event_time %v, want %v", id, r.rec["event_time"], want["event_time"])
		}
	}
	if assigned != len(anonymous) {
		t.Errorf("%d events got a collector-assigned id, want %d", assigned, len(anonymous))
	}
}

// A gzip body is inflated; an Avro batch goes through unchanged except for the
// fields the collector fills.
func TestGzipAndAvroBatchesAreAccepted(t *testing.T) {
	ts, brokers := kafkaServer(t)
	gz := nativeEvents(t, 50, 2)
	if a := post(t, ts.URL, tokenA, "application/json; charset=utf-8", "gzip", gzipped(t, jsonBatch(t, gz))); a.Status != http.StatusAccepted || a.Body.Accepted != 50 {
		t.Fatalf("gzip POST = %d %s, want 202 with 50 accepted", a.Status, a.Raw)
	}
	av := nativeEvents(t, 40, 3)
	var frames [][]byte
	for i, r := range av {
		if i%2 == 0 {
			r["client_ip"] = ""
		}
		frames = append(frames, encodeRaw(t, r))
	}
	if a := post(t, ts.URL, tokenB, ContentTypeAvro, "", avroBatch(frames...)); a.Status != http.StatusAccepted || a.Body.Accepted != 40 {
		t.Fatalf("Avro POST = %d %s, want 202 with 40 accepted", a.Status, a.Raw)
	}
	if a := post(t, ts.URL, tokenB, ContentTypeAvro, "gzip", gzipped(t, avroBatch(frames[:5]...))); a.Status != http.StatusAccepted || a.Body.Accepted != 5 {
		t.Fatalf("gzip Avro POST = %d %s, want 202 with 5 accepted", a.Status, a.Raw)
	}
	noID := nativeEvents(t, 1, 4)[0]
	noID["event_id"] = ""
	if a := post(t, ts.URL, tokenB, ContentTypeAvro, "", avroBatch(encodeRaw(t, noID))); a.Status != http.StatusAccepted || a.Body.Accepted != 1 {
		t.Fatalf("Avro POST without an event id = %d %s, want 202", a.Status, a.Raw)
	}
	got := rawRecords(t, brokers, ts.Topics.Raw)
	for _, r := range append(gz, av...) {
		id := r["event_id"].(string)
		rr, ok := got[id]
		if !ok {
			t.Errorf("event %s is not in the raw topic", id)
			continue
		}
		want := r["client_ip"]
		if want == "" {
			want = "127.0.0.1"
		}
		if rr.rec["client_ip"] != want || rr.rec["title"] != r["title"] {
			t.Errorf("event %s: client_ip %q title %q, want %q %q", id, rr.rec["client_ip"], rr.rec["title"], want, r["title"])
		}
	}
	if len(got) != 91 {
		t.Errorf("raw topic holds %d distinct events, want 91", len(got))
	}
	found := 0
	for id, r := range got {
		if r.rec["installation_id"] == noID["installation_id"] && r.rec["event_time"].(time.Time).Equal(noID["event_time"].(time.Time).Truncate(time.Millisecond)) {
			found++
			if _, err := uuid.Parse(id); err != nil {
				t.Errorf("the Avro event sent without an id got %q, want a UUID", id)
			}
		}
	}
	if found != 1 {
		t.Errorf("found the Avro event sent without an id %d times, want once", found)
	}
}

// Without a valid bearer token nothing is read or produced; the operator
// endpoints need no token.
func TestRequestsWithoutAValidTokenGet401(t *testing.T) {
	ts, p := fakeServer(t)
	body := jsonBatch(t, nativeEvents(t, 2, 1))
	for name, auth := range map[string]string{
		"no header":       "",
		"wrong token":     "Bearer " + strings.Repeat("x", len(tokenA)),
		"token prefix":    "Bearer " + tokenA[:len(tokenA)-1],
		"token and more":  "Bearer " + tokenA + "x",
		"basic scheme":    "Basic " + tokenA,
		"bare token":      tokenA,
		"empty bearer":    "Bearer ",
		"name, not token": "Bearer fleetA",
	} {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d with WWW-Authenticate %q, want 401 with Bearer", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if n := p.count(); n != 0 {
		t.Errorf("%d records produced by unauthenticated requests", n)
	}
	for _, tok := range []string{tokenA, tokenB} {
		if a := post(t, ts.URL, tok, "application/json", "", body); a.Status != http.StatusAccepted {
			t.Errorf("a configured token: %d %s, want 202", a.Status, a.Raw)
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s without a token: %d, want 200", path, resp.StatusCode)
		}
		if path == "/metrics" {
			m := string(out)
			for _, want := range []string{`veil_collector_requests_total{code="401",fleet=""} 8`, `veil_collector_events_accepted_total{fleet="fleetA"} 2`,
				`veil_collector_events_accepted_total{fleet="fleetB"} 2`, "veil_collector_inflight_bytes 0"} {
				if !strings.Contains(m, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
			if strings.Contains(m, tokenA) || strings.Contains(m, tokenB) {
				t.Error("/metrics shows a token")
			}
		}
	}
}

// Other packages mount their endpoints on the same router and authentication.
func TestMountedEndpointsShareTheAuthentication(t *testing.T) {
	ts, _ := fakeServer(t)
	ts.Handle("GET /v1/consent/{installation}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, Fleet(r.Context())+" "+r.PathValue("installation"))
	}), true)
	ts.Handle("GET /privacy", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "public") }), false)
	get := func(path, token string) (int, string) {
		return testenv.Request(t, http.MethodGet, ts.URL+path, token, "")
	}
	if code, _ := get("/v1/consent/srv-1", ""); code != http.StatusUnauthorized {
		t.Errorf("mounted with auth, no token: %d, want 401", code)
	}
	if code, body := get("/v1/consent/srv-1", tokenB); code != http.StatusOK || body != "fleetB srv-1" {
		t.Errorf("mounted with auth, token of fleetB: %d %q, want 200 \"fleetB srv-1\"", code, body)
	}
	if code, body := get("/privacy", ""); code != http.StatusOK || body != "public" {
		t.Errorf("mounted without auth: %d %q, want 200 public", code, body)
	}
}

// client_ip comes from X-Forwarded-For only through a trusted proxy.
func TestClientIPFromForwardedForOnlyThroughTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name, trusted, xff, want string
	}{
		{"no trusted proxies: the header is ignored", "", "81.2.69.160", "127.0.0.1"},
		{"trusted peer: the address it forwarded", "127.0.0.1/32", "81.2.69.160", "81.2.69.160"},
		{"a client cannot spoof the left of the list", "127.0.0.0/8,10.0.0.0/8", "6.6.6.6, 81.2.69.160, 10.1.2.3", "81.2.69.160"},
		{"a garbage hop stops the walk", "127.0.0.1", "81.2.69.160, bogus", "127.0.0.1"},
		{"every hop trusted: the leftmost", "127.0.0.1/32,10.0.0.0/8", "10.9.9.9, 10.1.2.3", "10.9.9.9"},
		{"IPv6 hop", "127.0.0.1/32", "2001:db8::1", "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{}
			if tc.trusted != "" {
				args = append(args, "--trusted-proxies", tc.trusted)
			}
			ts, p := fakeServer(t, args...)
			r := nativeEvents(t, 1, 4)[0]
			delete(r, "client_ip")
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/events", bytes.NewReader(jsonBatch(t, []map[string]any{r})))
			req.Header.Set("Authorization", "Bearer "+tokenA)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", tc.xff)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted || p.count() != 1 {
				t.Fatalf("POST: %d, %d records, want 202 and 1", resp.StatusCode, p.count())
			}
			_, rec, err := schemas.MustLoad().Decode(p.msgs[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			if rec["client_ip"] != tc.want {
				t.Errorf("client_ip = %q, want %q", rec["client_ip"], tc.want)
			}
		})
	}
}

// A request that waits for a stalled writer answers 503 with Retry-After after
// --produce-timeout, and its bytes stay counted until the writer lets go.
func TestStalledKafkaAnswers503AfterTheProduceTimeout(t *testing.T) {
	ts, p := fakeServer(t, "--produce-timeout", "300ms", "--retry-after", "2s")
	p.gate = make(chan struct{})
	var a answer
	within(t, 2*time.Second, "a POST to a stalled writer", func() {
		a = post(t, ts.URL, tokenA, "application/json", "", jsonBatch(t, nativeEvents(t, 10, 5)))
	})
	if a.Status != http.StatusServiceUnavailable || a.RetryAfter != "2" || a.Body.Accepted != 0 || !strings.Contains(a.Body.Error, "within 300ms") {
		t.Fatalf("POST = %d (Retry-After %q) %s, want 503 with Retry-After 2, nothing accepted", a.Status, a.RetryAfter, a.Raw)
	}
	if ts.InflightBytes() == 0 {
		t.Error("the stalled write's bytes were released while the writer still holds its records")
	}
	close(p.gate)
	deadline := time.Now().Add(5 * time.Second)
	for ts.InflightBytes() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := ts.InflightBytes(); n != 0 {
		t.Errorf("in-flight bytes %d after the writer finished, want 0", n)
	}
}

// Above --max-inflight, requests are refused at once with 503, not queued, and
// the bytes held never exceed the limit.
func TestInflightBudgetRefusesAtOnceAndStaysBounded(t *testing.T) {
	const limit = 1 << 20
	ts, p := fakeServer(t, "--max-inflight", "1MiB", "--max-body", "256KiB", "--max-decompressed", "256KiB", "--produce-timeout", "20s")
	p.gate = make(chan struct{})
	body := jsonBatch(t, nativeEvents(t, 200, 6)) // ~180 KB
	if len(body) < 100<<10 || len(body) > 256<<10 {
		t.Fatalf("test batch of %d bytes; want 100-256 KiB", len(body))
	}
	results := make(chan answer, 20)
	for i := 0; i < 20; i++ {
		go func() {
			a, err := tryPost(http.DefaultClient, ts.URL, tokenA, "application/json", "", body)
			if err != nil {
				a.Status, a.Raw = -1, err.Error()
			}
			results <- a
		}()
	}
	// Requests that do not fit come back while the others wait for the writer.
	busy := 0
	timeout := time.After(10 * time.Second)
	for busy == 0 || ts.InflightBytes() < limit/2 {
		select {
		case a := <-results:
			if a.Status != http.StatusServiceUnavailable || a.RetryAfter == "" {
				t.Fatalf("while the writer is stalled: %d (Retry-After %q) %s, want 503 with Retry-After", a.Status, a.RetryAfter, a.Raw)
			}
			busy++
		case <-timeout:
			t.Fatalf("no 503 within 10s (in flight %d bytes)", ts.InflightBytes())
		}
		if n := ts.InflightBytes(); n > limit {
			t.Fatalf("in-flight bytes %d exceed the limit %d", n, limit)
		}
	}
	close(p.gate)
	ok := 0
	for i := busy; i < 20; i++ {
		a := <-results
		switch a.Status {
		case http.StatusAccepted:
			ok++
		case http.StatusServiceUnavailable:
			busy++
		default:
			t.Errorf("unexpected answer %d %s", a.Status, a.Raw)
		}
	}
	if ok == 0 || busy == 0 {
		t.Errorf("%d accepted and %d refused; want some of each", ok, busy)
	}
	if p.count() != ok*200 {
		t.Errorf("%d records written, want %d (only the accepted requests)", p.count(), ok*200)
	}
	t.Logf("%d requests accepted, %d refused with 503", ok, busy)
}

// Shutdown waits for requests in flight: they are answered 202 once Kafka
// acknowledged them, and Serve returns only after that.
func TestShutdownDrainsRequestsInFlight(t *testing.T) {
	ts, p := fakeServer(t, "--produce-timeout", "20s")
	p.gate = make(chan struct{})
	results := make(chan answer, 5)
	for i := 0; i < 5; i++ {
		go func() {
			a, err := tryPost(http.DefaultClient, ts.URL, tokenA, "application/json", "", jsonBatch(t, nativeEvents(t, 10, uint64(10+i))))
			if err != nil {
				a.Status, a.Raw = -1, err.Error()
			}
			results <- a
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.entered.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("the 5 requests did not reach the writer")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) while requests were in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	if ts.Ready() {
		t.Error("Ready() during shutdown, want false")
	}
	close(p.gate)
	for i := 0; i < 5; i++ {
		if a := <-results; a.Status != http.StatusAccepted {
			t.Errorf("request in flight at shutdown: %d %s, want 202", a.Status, a.Raw)
		}
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the requests finished")
	}
	if p.count() != 50 {
		t.Errorf("%d records written, want 50", p.count())
	}
	if _, err := tryPost(http.DefaultClient, ts.URL, tokenA, "application/json", "", jsonBatch(t, nativeEvents(t, 1, 1))); err == nil {
		t.Error("a request after shutdown was answered")
	}
}

// Events of every kind the simulator makes are accepted as JSON and as Avro, each
// encoded with the newest raw schema of its kind.
func TestEveryEventKindIsAccepted(t *testing.T) {
	ts, brokers := kafkaServer(t)
	evs := mixedEvents(t, 400, 8)
	kinds := map[string]int{}
	for _, e := range evs {
		kinds[e.kind]++
	}
	reg := schemas.MustLoad()
	if len(kinds) != len(reg.Kinds()) {
		t.Errorf("the simulator made kinds %v; the registry knows %v", kinds, reg.Kinds())
	}
	if a := post(t, ts.URL, tokenA, "application/json", "", jsonMixed(t, evs[:200])); a.Status != http.StatusAccepted || a.Body.Accepted != 200 {
		t.Fatalf("JSON POST = %d %s, want 202 with 200 accepted", a.Status, a.Raw)
	}
	var frames [][]byte
	for _, e := range evs[200:] {
		b, err := reg.Latest(schemas.Raw, e.kind).Encode(nil, e.rec)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, b)
	}
	if a := post(t, ts.URL, tokenA, ContentTypeAvro, "", avroBatch(frames...)); a.Status != http.StatusAccepted || a.Body.Accepted != 200 {
		t.Fatalf("Avro POST = %d %s, want 202 with 200 accepted", a.Status, a.Raw)
	}
	got := rawRecords(t, brokers, ts.Topics.Raw)
	for _, e := range evs {
		r, ok := got[e.rec["event_id"].(string)]
		if !ok {
			t.Errorf("%s event %s is not in the raw topic", e.kind, e.rec["event_id"])
			continue
		}
		if fp := stream.Header(r.msg, stream.HeaderFingerprint); fp != reg.Latest(schemas.Raw, e.kind).FingerprintHex() {
			t.Errorf("%s event: fingerprint %s, want the newest raw %s schema", e.kind, fp, e.kind)
		}
	}
	t.Logf("kinds: %v", kinds)
}

// Events older than --max-event-age or too far in the future are refused with a
// reason; the window follows the flag.
func TestEventsOutsideTheTimeWindowAreRefused(t *testing.T) {
	ts, fp := fakeServer(t, "--max-event-age", "48h")
	now := time.Now()
	recs := nativeEvents(t, 4, 3)
	recs[0]["event_time"] = now.Add(-49 * time.Hour)
	recs[1]["event_time"] = now.Add(-47 * time.Hour)
	recs[2]["event_time"] = now.Add(25 * time.Hour)
	recs[3]["event_time"] = now
	a := post(t, ts.URL, tokenA, ContentTypeJSON, "", jsonBatch(t, recs))
	if a.Status != http.StatusAccepted || a.Body.Accepted != 2 || a.Body.Rejected != 2 {
		t.Fatalf("status %d, accepted %d, rejected %d; want 202 with 2 and 2: %+v", a.Status, a.Body.Accepted, a.Body.Rejected, a.Raw)
	}
	want := map[int]string{0: "is older than the 48h0m0s the pipeline accepts", 2: "is more than 24h0m0s in the future"}
	for _, e := range a.Body.Errors {
		if w, ok := want[e.Index]; !ok || !strings.Contains(e.Error, w) {
			t.Errorf("event %d: %q, want %q", e.Index, e.Error, w)
		}
	}
	if fp.count() != 2 {
		t.Errorf("%d records produced, want 2", fp.count())
	}
}

// A client that still writes the fingerprint of goavro's canonical form (Veil's
// before it followed the Avro specification) is served: its records are accepted
// and written to Kafka with the specification's fingerprint, in the header bytes
// and the schema-fingerprint header.
func TestAvroRecordsWithTheLegacyFingerprintAreAccepted(t *testing.T) {
	ts, p := fakeServer(t)
	raw := schemas.MustLoad().Latest(schemas.Raw, "playback")
	recs := nativeEvents(t, 3, 9)
	var frames [][]byte
	for _, r := range recs {
		b := encodeRaw(t, r)
		binary.LittleEndian.PutUint64(b[2:10], raw.LegacyFingerprint)
		frames = append(frames, b)
	}
	if a := post(t, ts.URL, tokenA, ContentTypeAvro, "", avroBatch(frames...)); a.Status != http.StatusAccepted || a.Body.Accepted != len(recs) {
		t.Fatalf("POST of legacy-fingerprint records = %d %s, want 202 with %d accepted", a.Status, a.Raw, len(recs))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.msgs) != len(recs) {
		t.Fatalf("%d records written, want %d", len(p.msgs), len(recs))
	}
	for i, m := range p.msgs {
		if !bytes.Equal(m.Value[:10], raw.Header()) {
			t.Errorf("record %d starts with % x, want the specification's header % x", i, m.Value[:10], raw.Header())
		}
		if fp := stream.Header(m, stream.HeaderFingerprint); fp != raw.FingerprintHex() {
			t.Errorf("record %d: header %s = %s, want %s", i, stream.HeaderFingerprint, fp, raw.FingerprintHex())
		}
	}
}
