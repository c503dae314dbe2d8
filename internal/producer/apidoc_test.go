package producer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/collector"
	"github.com/veiltelemetry/veil/internal/consent"
	"github.com/veiltelemetry/veil/internal/credential"
	"github.com/veiltelemetry/veil/internal/jsonevent"
	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/privacytab"
	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// This test holds internal/collector/API.md to what the server answers. Every
// JSON example there is marked: <!-- response: METHOD PATH STATUS [variant] -->
// names a scenario below, which makes the real handlers (the collector with the
// consent API and the privacy tab mounted as `producer serve` mounts them, over
// an in-memory Kafka writer) answer that request; the answer must have the
// status, and the members of the example with the same JSON types, recursively.
// <!-- request: METHOD PATH --> marks a request body, which must be accepted.
// The `# → STATUS BODY` answers of the curl examples must match a scenario of
// their request's method, path and status. Every scenario must be documented.

// The credentials of the scenarios: a relay posts events, an operator reads and
// sets any installation's consent, and an installation credential of srv-1 shows
// what an installation may not do.
const (
	docRelay    = "api-doc-relay-0123456789"
	docOperator = "api-doc-operator-0123456789"
	docSecrets  = "doc:api-doc-secret-of-the-test-0123456789\n"
)

// docInstallation is srv-1's installation credential.
func docInstallation(t *testing.T) string {
	t.Helper()
	keys, err := credential.ParseKeys(docSecrets, "test")
	if err != nil {
		t.Fatal(err)
	}
	is, err := keys.Issue("srv-1", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return is.Credential
}

// docScenario is one documented answer and how to get it.
type docScenario struct {
	id      string   // METHOD PATTERN STATUS [variant], as the markers name it
	flags   []string // collector flags
	writer  writerMode
	loading bool            // the consent API is still loading its topic
	before  []*http.Request // requests made first (a PUT before the GET)
	req     func(t *testing.T) *http.Request
	headers map[string]string // headers the answer carries; "" matches any value
}

type writerMode int

const (
	acks  writerMode = iota // Kafka acknowledges every write
	fails                   // every write fails at once
	hangs                   // no write is ever answered
)

func docRequest(method, path string, token string, contentType, body string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

// batch is a JSON batch of simulated events, changed by edit first.
func batch(t *testing.T, n int, edit func(i int, ev map[string]any)) string {
	t.Helper()
	f := simulate.NewFleet(simulate.Config{Installations: 10, Seed: 3})
	var evs []map[string]any
	for len(evs) < n {
		kind, rec, err := f.Next()
		if err != nil {
			t.Fatal(err)
		}
		if kind != "playback" {
			continue
		}
		ev := jsonevent.Event(kind, rec)
		if edit != nil {
			edit(len(evs), ev)
		}
		evs = append(evs, ev)
	}
	b, err := json.Marshal(map[string]any{"events": evs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func postEvents(body string) func(*testing.T) *http.Request {
	return func(*testing.T) *http.Request {
		return docRequest("POST", "/v1/events", docRelay, "application/json", body)
	}
}

func postBatch(n int, edit func(i int, ev map[string]any)) func(*testing.T) *http.Request {
	return func(t *testing.T) *http.Request { return postEvents(batch(t, n, edit))(t) }
}

func consentRequest(method, inst string, token string, contentType, body string) func(*testing.T) *http.Request {
	return func(*testing.T) *http.Request {
		return docRequest(method, "/v1/consent/"+inst, token, contentType, body)
	}
}

var retryAfter = map[string]string{"Retry-After": ""}

var docScenarios = []docScenario{
	{id: "POST /v1/events 202", req: postBatch(3, nil)},
	{id: "POST /v1/events 202 mixed", req: postBatch(3, func(i int, ev map[string]any) {
		if i == 1 {
			ev["media_type"], ev["event_id"] = "hologram", "bad-mixed-2"
		}
	})},
	{id: "POST /v1/events 400 not a batch", req: postEvents(`{"events": [`)},
	{id: "POST /v1/events 400 every event rejected", req: postEvents(`{"events":[{"kind":"playback","event_time":1795526345123}]}`)},
	{id: "POST /v1/events 401", req: func(*testing.T) *http.Request {
		return docRequest("POST", "/v1/events", "", "application/json", `{"events":[]}`)
	}, headers: map[string]string{"WWW-Authenticate": `Bearer realm="veil"`}},
	{id: "POST /v1/events 403 other installation", req: func(t *testing.T) *http.Request {
		return docRequest("POST", "/v1/events", docInstallation(t), "application/json", batch(t, 2, func(i int, ev map[string]any) {
			ev["installation_id"] = []string{"srv-1", "srv-2"}[i]
		}))
	}},
	{id: "GET /v1/events 405", req: func(*testing.T) *http.Request { return docRequest("GET", "/v1/events", docRelay, "", "") },
		headers: map[string]string{"Allow": "POST"}},
	{id: "POST /v1/events 413", flags: []string{"--max-body", "1KiB"}, req: postBatch(10, nil)},
	{id: "POST /v1/events 415", req: func(t *testing.T) *http.Request {
		return docRequest("POST", "/v1/events", docRelay, "text/plain", batch(t, 1, nil))
	}},
	{id: "POST /v1/events 503", flags: []string{"--produce-timeout", "50ms"}, writer: hangs, req: postBatch(2, nil), headers: retryAfter},
	{id: "POST /v1/events 503 with rejected events", flags: []string{"--produce-timeout", "50ms"}, writer: hangs,
		req: postBatch(3, func(i int, ev map[string]any) {
			if i == 2 {
				delete(ev, "device_type")
				ev["event_id"] = "bad-3"
			}
		}), headers: retryAfter},

	{id: "PUT /v1/consent/{installation} 200", req: consentRequest("PUT", "srv-1", docOperator, "application/json", `{"opt_out":["playback","crash"]}`)},
	{id: "PUT /v1/consent/{installation} 200 opted back in", req: consentRequest("PUT", "srv-1", docOperator, "application/json", `{"opt_out":[]}`)},
	{id: "GET /v1/consent/{installation} 200",
		before: []*http.Request{docRequest("PUT", "/v1/consent/srv-1", docOperator, "application/json", `{"opt_out":["crash"]}`)},
		req:    consentRequest("GET", "srv-1", docOperator, "", "")},
	{id: "GET /v1/consent/{installation} 200 no opt-outs", req: consentRequest("GET", "srv-2", docOperator, "", "")},
	{id: "PUT /v1/consent/{installation} 400", req: consentRequest("PUT", "srv-1", docOperator, "application/json", `{"opt_out":["ads"]}`)},
	{id: "GET /v1/consent/{installation} 400", req: consentRequest("GET", "srv%201", docOperator, "", "")},
	{id: "GET /v1/consent/{installation} 401", req: consentRequest("GET", "srv-1", "", "", ""),
		headers: map[string]string{"WWW-Authenticate": `Bearer realm="veil"`}},
	{id: "GET /v1/consent/{installation} 403", req: func(t *testing.T) *http.Request {
		return docRequest("GET", "/v1/consent/srv-2", docInstallation(t), "", "")
	}},
	{id: "PUT /v1/consent/{installation} 413", req: consentRequest("PUT", "srv-1", docOperator, "application/json",
		`{"opt_out":[`+strings.Repeat(`"crash",`, 10000)+`"crash"]}`)},
	{id: "PUT /v1/consent/{installation} 415", req: consentRequest("PUT", "srv-1", docOperator, "text/plain", `{"opt_out":[]}`)},
	{id: "PUT /v1/consent/{installation} 503", writer: fails, req: consentRequest("PUT", "srv-1", docOperator, "application/json", `{"opt_out":["crash"]}`),
		headers: retryAfter},
	{id: "GET /v1/consent/{installation} 503", loading: true, req: consentRequest("GET", "srv-1", docOperator, "", ""), headers: retryAfter},

	{id: "POST /v1/installations/{installation}/credential 200", req: func(*testing.T) *http.Request {
		return docRequest("POST", "/v1/installations/srv-7c1d2e4f9a/credential", docOperator, "", "")
	}, headers: map[string]string{"Cache-Control": "no-store"}},

	{id: "GET /healthz 200", req: func(*testing.T) *http.Request { return docRequest("GET", "/healthz", "", "", "") }},
	{id: "GET /readyz 200", req: func(*testing.T) *http.Request { return docRequest("GET", "/readyz", "", "", "") }},
}

// docWriter stands in for Kafka.
type docWriter struct {
	mode    writerMode
	release chan struct{} // ends hanging writes when the test ends
}

func (w *docWriter) WriteMessages(ctx context.Context, _ ...kafka.Message) error {
	switch w.mode {
	case fails:
		return errors.New("broker down")
	case hangs:
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.release:
			return errors.New("test over")
		}
	}
	return nil
}

var docTab struct {
	tab *privacytab.Tab
	err error
}

// docServer is the router of `producer serve` configured for sc.
func docServer(t *testing.T, sc docScenario) http.Handler {
	t.Helper()
	sch := schemas.MustLoad()
	if docTab.tab == nil && docTab.err == nil {
		docTab.tab, docTab.err = privacytab.Build(sch, privacytab.Options{})
	}
	if docTab.err != nil {
		t.Fatal(docTab.err)
	}
	var cfg collector.Config
	tokens := testenv.File(t, "tokens", "doc-relay:relay:"+docRelay+"\ndoc-operator:operator:"+docOperator+"\n")
	secrets := testenv.File(t, "secrets", docSecrets)
	testenv.Configure(t, cfg.Register, append([]string{"--tokens-file", tokens, "--credential-secrets-file", secrets}, sc.flags...)...)
	w := &docWriter{mode: sc.writer, release: make(chan struct{})}
	t.Cleanup(func() { close(w.release) })
	reg := prometheus.NewRegistry()
	s, err := collector.New(cfg, collector.Deps{Schemas: sch, Batched: w, Single: w, Topics: cfg.Kafka.Topics,
		Ready:   map[string]obs.Check{"kafka": func(context.Context) error { return nil }},
		Metrics: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var loaded chan struct{}
	if sc.loading {
		loaded = make(chan struct{})
	}
	routes(s, &consent.API{Writer: w, Topic: cfg.Kafka.Topics.Consent, Store: consent.NewStore(), Loaded: loaded}, docTab.tab)
	return s.Handler()
}

// answer is what the server answered a scenario's request.
type answer struct {
	status      int
	header      http.Header
	contentType string
	body        string
}

func (sc docScenario) run(t *testing.T) answer {
	t.Helper()
	h := docServer(t, sc)
	for _, r := range sc.before {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r.Clone(context.Background()))
		if rec.Code >= 300 {
			t.Fatalf("%s: preparing request %s %s = %d %s", sc.id, r.Method, r.URL, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, sc.req(t))
	a := answer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	a.contentType, _, _ = strings.Cut(rec.Header().Get("Content-Type"), ";")
	return a
}

// idKey splits a scenario id into method, path pattern and status.
func idKey(id string) (method, pattern string, status int, err error) {
	f := strings.Fields(id)
	if len(f) < 3 {
		return "", "", 0, fmt.Errorf("%q: want METHOD PATH STATUS [variant]", id)
	}
	status, err = strconv.Atoi(f[2])
	return f[0], f[1], status, err
}

// docExample is a JSON example, or a curl example's answer, from API.md.
type docExample struct {
	line    int
	request string   // request: "METHOD PATH"
	ids     []string // response: the scenarios it documents
	curl    string   // a curl answer: "METHOD PATH STATUS" of its request
	body    string   // JSON, or text for a plain-text answer
}

var (
	markerPrefix = map[string]string{"request": "<!-- request: ", "response": "<!-- response: "}
	curlURL      = "http://127.0.0.1:8080"
)

// readAPIDoc extracts the examples of API.md.
func readAPIDoc(t *testing.T) []docExample {
	t.Helper()
	f, err := os.Open(filepath.Join(testenv.RepoRoot(t), "internal", "collector", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	var out []docExample
	var markers []string
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		switch {
		case strings.HasPrefix(l, markerPrefix["request"]) || strings.HasPrefix(l, markerPrefix["response"]):
			markers = append(markers, strings.TrimSuffix(strings.TrimPrefix(l, "<!-- "), " -->"))
		case l == "```json":
			start := i + 1
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			}
			ex := docExample{line: start, body: strings.Join(lines[start:i], "\n")}
			for _, m := range markers {
				kind, what, _ := strings.Cut(m, ": ")
				if kind == "request" {
					ex.request = what
				} else {
					ex.ids = append(ex.ids, what)
				}
			}
			if len(markers) == 0 {
				t.Errorf("API.md:%d: a JSON example without a <!-- request: … --> or <!-- response: … --> marker", start)
			}
			out = append(out, ex)
			markers = nil
		case l == "```sh":
			start := i + 1
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			}
			out = append(out, curlAnswers(t, lines[start:i], start)...)
			markers = nil
		case l != "":
			markers = nil
		}
	}
	return out
}

// curlAnswers returns the `# → STATUS BODY` answers of a shell block, each with
// the method and path of the curl command before it.
func curlAnswers(t *testing.T, lines []string, first int) []docExample {
	t.Helper()
	var out []docExample
	var method, path string
	for j := 0; j < len(lines); j++ {
		line, n := lines[j], first+j
		for strings.HasSuffix(line, `\`) && j+1 < len(lines) { // a command continued
			j++
			line = strings.TrimSuffix(line, `\`) + " " + lines[j]
		}
		cmd, comment, _ := strings.Cut(line, "#")
		if strings.Contains(cmd, "curl ") {
			method, path = curlRequest(cmd)
		}
		ans, ok := strings.CutPrefix(strings.TrimSpace(comment), "→ ")
		if !ok {
			continue
		}
		status, body, _ := strings.Cut(ans, " ")
		body = strings.TrimSpace(body)
		for strings.HasPrefix(body, "{") && !json.Valid([]byte(body)) && j+1 < len(lines) &&
			strings.HasPrefix(strings.TrimSpace(lines[j+1]), "#") { // an answer continued
			j++
			body += strings.TrimPrefix(strings.TrimSpace(lines[j]), "#")
		}
		if method == "" {
			t.Errorf("API.md:%d: an answer without a curl command before it", n)
			continue
		}
		out = append(out, docExample{line: n, curl: method + " " + path + " " + status, body: body})
	}
	return out
}

// curlRequest finds the method and path of a curl command.
func curlRequest(cmd string) (method, path string) {
	f := strings.Fields(cmd)
	for i, a := range f {
		a = strings.Trim(a, `'"`)
		switch {
		case a == "-X" && i+1 < len(f):
			method = f[i+1]
		case (a == "-d" || a == "--data-binary") && method == "":
			method = "POST"
		case strings.HasPrefix(a, curlURL):
			if u, err := url.Parse(a); err == nil {
				path = u.Path
			}
		}
	}
	if method == "" {
		method = "GET"
	}
	return method, path
}

// matchPath reports whether path fits pattern, whose {segments} match any one.
func matchPath(pattern, path string) bool {
	p, q := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if p[i] != q[i] && !(strings.HasPrefix(p[i], "{") && strings.HasSuffix(p[i], "}")) {
			return false
		}
	}
	return true
}

// TestAPIDocMatchesTheServer checks every example of API.md against the
// server's answer to the request it documents.
func TestAPIDocMatchesTheServer(t *testing.T) {
	examples := readAPIDoc(t)
	if len(examples) < 10 {
		t.Fatalf("found %d examples in API.md; the markers or the parser broke", len(examples))
	}
	t.Logf("%d examples in API.md", len(examples))
	byID := map[string]docScenario{}
	for _, sc := range docScenarios {
		if _, _, _, err := idKey(sc.id); err != nil {
			t.Fatal(err)
		}
		byID[sc.id] = sc
	}
	answers := map[string]answer{}
	answerOf := func(t *testing.T, sc docScenario) answer {
		if a, ok := answers[sc.id]; ok {
			return a
		}
		a := sc.run(t)
		_, _, status, _ := idKey(sc.id)
		if a.status != status {
			t.Errorf("scenario %q: the server answered %d %s", sc.id, a.status, a.body)
		}
		for k, v := range sc.headers {
			if got := a.header.Get(k); got == "" || (v != "" && got != v) {
				t.Errorf("scenario %q: header %s = %q, want %q", sc.id, k, got, v)
			}
		}
		t.Logf("%s → %d %s", sc.id, a.status, strings.TrimSpace(a.body))
		answers[sc.id] = a
		return a
	}
	documented := map[string]bool{}
	for _, ex := range examples {
		switch {
		case ex.request != "":
			t.Run(fmt.Sprintf("API.md:%d request %s", ex.line, ex.request), func(t *testing.T) { checkRequestExample(t, ex) })
		case ex.curl != "":
			method, path, status, err := idKey(ex.curl)
			if err != nil {
				t.Errorf("API.md:%d: curl answer %q: %v", ex.line, ex.curl, err)
				continue
			}
			var tried []string
			var matched bool
			for _, sc := range docScenarios {
				m, pattern, st, _ := idKey(sc.id)
				if m != method || st != status || !matchPath(pattern, path) {
					continue
				}
				documented[sc.id] = true
				diffs := compareAnswer(ex.body, answerOf(t, sc))
				if len(diffs) == 0 {
					matched = true
				}
				tried = append(tried, fmt.Sprintf("%q: %s", sc.id, strings.Join(diffs, "; ")))
			}
			if !matched {
				t.Errorf("API.md:%d: the answer of %s matches no scenario of it:\n%s", ex.line, ex.curl, strings.Join(tried, "\n"))
			}
		default:
			for _, id := range ex.ids {
				sc, ok := byID[id]
				if !ok {
					t.Errorf("API.md:%d: <!-- response: %s -->: no scenario makes that answer; add it to docScenarios", ex.line, id)
					continue
				}
				documented[id] = true
				if diffs := compareAnswer(ex.body, answerOf(t, sc)); len(diffs) > 0 {
					t.Errorf("API.md:%d documents %q, and the server answers otherwise:\n  %s\nanswer: %s",
						ex.line, id, strings.Join(diffs, "\n  "), answers[id].body)
				}
			}
		}
	}
	for _, sc := range docScenarios {
		if !documented[sc.id] {
			t.Errorf("scenario %q is not documented in API.md: add an example marked <!-- response: %s -->", sc.id, sc.id)
		}
	}
}

// checkRequestExample sends a documented request body and expects it accepted.
func checkRequestExample(t *testing.T, ex docExample) {
	method, pattern, ok := strings.Cut(ex.request, " ")
	if !ok {
		t.Fatalf("<!-- request: %s -->: want METHOD PATH", ex.request)
	}
	path := strings.ReplaceAll(pattern, "{installation}", "srv-1")
	body := ex.body
	if pattern == "/v1/events" {
		body = eventsNow(t, body)
	}
	h := docServer(t, docScenario{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, docRequest(method, path, requestToken(path), "application/json", body))
	if rec.Code != http.StatusOK && rec.Code != http.StatusAccepted {
		t.Fatalf("the documented request was answered %d %s", rec.Code, rec.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("answer is not JSON: %s", rec.Body)
	}
	if n, ok := got["rejected"].(float64); ok && n != 0 {
		t.Errorf("the documented events were rejected: %s", rec.Body)
	}
}

// eventsNow sets the event_time of every event of a documented batch to now:
// the example's fixed date falls out of the window of accepted event ages
// (--max-event-age) a week after it was written.
func eventsNow(t *testing.T, body string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber() // sizes stay exact
	var b struct {
		Events []map[string]any `json:"events"`
	}
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("the documented batch is not JSON: %v", err)
	}
	for _, ev := range b.Events {
		if _, ok := ev["event_time"]; ok {
			ev["event_time"] = time.Now().UnixMilli()
		}
	}
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// compareAnswer lists how an answer differs from a documented body: for JSON,
// in status-independent shape (members and types, recursively); for text,
// in content.
func compareAnswer(doc string, a answer) []string {
	if !strings.HasPrefix(doc, "{") && !strings.HasPrefix(doc, "[") {
		var diffs []string
		if a.contentType != "text/plain" {
			diffs = append(diffs, fmt.Sprintf("Content-Type %q, want text/plain", a.contentType))
		}
		if got := strings.TrimSpace(a.body); got != doc {
			diffs = append(diffs, fmt.Sprintf("body %q, documented %q", got, doc))
		}
		return diffs
	}
	var want, got any
	if err := json.Unmarshal([]byte(doc), &want); err != nil {
		return []string{"the documented example is not JSON: " + err.Error()}
	}
	if a.contentType != "application/json" {
		return []string{fmt.Sprintf("Content-Type %q, want application/json", a.contentType)}
	}
	if err := json.Unmarshal([]byte(a.body), &got); err != nil {
		return []string{"the answer is not JSON: " + err.Error()}
	}
	return compareShape("$", want, got)
}

// compareShape lists the members and types in which got differs from want.
// The elements of an array, documented and answered, must all share a shape.
func compareShape(at string, want, got any) []string {
	if tw, tg := jsonType(want), jsonType(got); tw != tg {
		return []string{fmt.Sprintf("%s: documented %s, answered %s", at, tw, tg)}
	}
	var diffs []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			wv, inW := w[k]
			gv, inG := g[k]
			switch {
			case !inG:
				diffs = append(diffs, fmt.Sprintf("%s.%s: documented, not answered", at, k))
			case !inW:
				diffs = append(diffs, fmt.Sprintf("%s.%s: answered, not documented", at, k))
			default:
				diffs = append(diffs, compareShape(at+"."+k, wv, gv)...)
			}
		}
	case []any:
		g := got.([]any)
		if (len(w) == 0) != (len(g) == 0) {
			return []string{fmt.Sprintf("%s: documented %d elements, answered %d", at, len(w), len(g))}
		}
		all := append(append([]any{}, w...), g...)
		for i := 1; i < len(all); i++ {
			diffs = append(diffs, compareShape(fmt.Sprintf("%s[%d]", at, i), all[0], all[i])...)
		}
	}
	return diffs
}

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// requestToken is the credential a documented request body is sent with: the
// relay's for events, the operator's for consent.
func requestToken(path string) string {
	if strings.HasPrefix(path, "/v1/consent/") {
		return docOperator
	}
	return docRelay
}
