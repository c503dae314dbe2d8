package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/veiltelemetry/veil/internal/consent"
	"github.com/veiltelemetry/veil/internal/credential"
	"github.com/veiltelemetry/veil/internal/jsonevent"
	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// The credentials serve configures: an operator, a relay, and the secret of
// installation credentials.
const (
	token      = "serve-test-token-42"
	relayToken = "serve-test-relay-token-42"
	secrets    = "k1:serve-test-secret-0123456789abcdef"
)

// serve runs Serve on the test's topics and returns its URL once it is ready,
// and a function that stops it and reports how it ended.
func serve(t *testing.T, args []string) (string, func() error) {
	t.Helper()
	addr := testenv.FreeAddr(t)
	var cfg ServeConfig
	testenv.Configure(t, cfg.Register, append(args, "--listen", addr,
		"--tokens-file", testenv.File(t, "tokens", "ops:operator:"+token+"\nrelay:relay:"+relayToken),
		"--credential-secrets-file", testenv.File(t, "secrets", secrets))...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry()) }()
	url := "http://" + addr
	testenv.WaitReady(t, url, 20*time.Second)
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Serve did not return within 30s of cancellation")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return url, stop
}

// The consent API on real Kafka: authenticated, written to the compacted topic
// with acks=all, and read back by a second producer that starts afterwards (it
// learns the state by following the topic, not from the first one's memory).
func TestServeConsentAPIWritesTheTopicAndAnotherProducerReadsIt(t *testing.T) {
	brokers := testenv.Kafka(t)
	tp := testenv.Topics(t, brokers, 2)
	args := testenv.KafkaArgs(brokers, tp)
	url, stop := serve(t, args)

	if code, body := testenv.Request(t, "PUT", url+"/v1/consent/inst-7", "", `{"opt_out":["crash"]}`); code != http.StatusUnauthorized {
		t.Errorf("PUT without a token = %d %s, want 401", code, body)
	}
	if code, body := testenv.Request(t, "GET", url+"/v1/consent/inst-7", "wrong-token", ""); code != http.StatusUnauthorized {
		t.Errorf("GET with a wrong token = %d %s, want 401", code, body)
	}
	if code, body := testenv.Request(t, "PUT", url+"/v1/consent/inst-7", relayToken, `{"opt_out":[]}`); code != http.StatusForbidden || !strings.Contains(body, `"reason":"wrong_role"`) {
		t.Errorf("PUT with a relay's token = %d %s, want 403 wrong_role", code, body)
	}
	if code, body := testenv.Request(t, "PUT", url+"/v1/consent/inst-7", token, `{"opt_out":["crash","marketing"]}`); code != http.StatusOK {
		t.Fatalf("PUT = %d %s", code, body)
	}
	if code, body := testenv.Request(t, "PUT", url+"/v1/consent/inst-8", token, `{"opt_out":["playback"]}`); code != http.StatusOK {
		t.Fatalf("PUT = %d %s", code, body)
	}
	if code, body := testenv.Request(t, "PUT", url+"/v1/consent/inst-8", token, `{"opt_out":[]}`); code != http.StatusOK {
		t.Fatalf("PUT opt back in = %d %s", code, body)
	}
	if code, body := testenv.Request(t, "PUT", url+"/v1/consent/inst-9", token, `{"opt_out":["everything"]}`); code != http.StatusBadRequest || !strings.Contains(body, "unknown category") {
		t.Errorf("PUT unknown category = %d %s, want 400 naming it", code, body)
	}

	// What the enricher will read: the records, keyed by installation.
	store := consent.NewStore()
	for _, m := range testenv.ReadAll(t, brokers, tp.Consent) {
		if err := store.Apply(m.Key, m.Value); err != nil {
			t.Fatal(err)
		}
	}
	if !store.OptedOut("inst-7", "crash") || !store.OptedOut("inst-7", "marketing") || store.OptedOut("inst-7", "playback") || store.Len() != 1 {
		t.Errorf("consent topic holds %d installations with opt-outs, inst-7: %v; want only inst-7 with crash and marketing", store.Len(), store.Get("inst-7"))
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}

	url2, _ := serve(t, args)
	for inst, want := range map[string]string{"inst-7": `["crash","marketing"]`, "inst-8": `[]`, "never-seen": `[]`} {
		code, body := testenv.Request(t, "GET", url2+"/v1/consent/"+inst, token, "")
		var got struct {
			OptOut json.RawMessage `json:"opt_out"`
		}
		if err := json.Unmarshal([]byte(body), &got); code != http.StatusOK || err != nil || string(got.OptOut) != want {
			t.Errorf("GET %s from a new producer = %d %s, want opt_out %s", inst, code, body, want)
		}
	}
}

// An installation gets its credential from an operator, then reads and sets
// its own opt-outs with it, and no other installation's; a reset through another
// installation's credential is refused and changes nothing.
func TestServeInstallationsSetTheirOwnConsent(t *testing.T) {
	brokers := testenv.Kafka(t)
	tp := testenv.Topics(t, brokers, 2)
	url, _ := serve(t, testenv.KafkaArgs(brokers, tp))

	credentialOf := func(inst string) string {
		t.Helper()
		code, body := testenv.Request(t, "POST", url+"/v1/installations/"+inst+"/credential", token, "")
		var is credential.Issued
		if err := json.Unmarshal([]byte(body), &is); code != http.StatusOK || err != nil || is.Installation != inst {
			t.Fatalf("issuing %s's credential = %d %s", inst, code, body)
		}
		return is.Credential
	}
	mine, theirs := credentialOf("inst-mine"), credentialOf("inst-theirs")
	if code, body := testenv.Request(t, "PUT", url+"/v1/consent/inst-mine", mine, `{"opt_out":["marketing","crash"]}`); code != http.StatusOK || !strings.Contains(body, `"opt_out":["crash","marketing"]`) {
		t.Fatalf("PUT of its own opt-outs = %d %s, want 200", code, body)
	}
	if code, body := testenv.Request(t, "PUT", url+"/v1/consent/inst-mine", theirs, `{"opt_out":[]}`); code != http.StatusForbidden || !strings.Contains(body, `"reason":"other_installation"`) {
		t.Errorf("PUT resetting another installation's opt-outs = %d %s, want 403 other_installation", code, body)
	}
	if code, body := testenv.Request(t, "GET", url+"/v1/consent/inst-mine", theirs, ""); code != http.StatusForbidden {
		t.Errorf("GET of another installation's opt-outs = %d %s, want 403", code, body)
	}
	if code, body := testenv.Request(t, "POST", url+"/v1/installations/inst-theirs/credential", mine, ""); code != http.StatusForbidden {
		t.Errorf("an installation issuing a credential = %d %s, want 403", code, body)
	}
	for who, tok := range map[string]string{"itself": mine, "an operator": token} {
		if code, body := testenv.Request(t, "GET", url+"/v1/consent/inst-mine", tok, ""); code != http.StatusOK || !strings.Contains(body, `"opt_out":["crash","marketing"]`) {
			t.Errorf("GET by %s = %d %s, want 200 with crash and marketing", who, code, body)
		}
	}
	store := consent.NewStore()
	for _, m := range testenv.ReadAll(t, brokers, tp.Consent) {
		if err := store.Apply(m.Key, m.Value); err != nil {
			t.Fatal(err)
		}
	}
	if got := store.Get("inst-mine"); store.Len() != 1 || len(got) != 2 {
		t.Errorf("consent topic: %d installations, inst-mine %v; want only inst-mine's crash and marketing", store.Len(), got)
	}
}

// The privacy tab is served to anyone, as HTML and JSON, and lists every field of
// every raw schema compiled into the binary.
func TestServePrivacyTabListsEveryField(t *testing.T) {
	brokers := testenv.Kafka(t)
	tp := testenv.Topics(t, brokers, 1)
	url, _ := serve(t, testenv.KafkaArgs(brokers, tp))

	code, page := testenv.Request(t, "GET", url+"/privacy", "", "")
	if code != http.StatusOK || !strings.Contains(page, "<html") {
		t.Fatalf("GET /privacy = %d %.200s", code, page)
	}
	code, body := testenv.Request(t, "GET", url+"/privacy.json", "", "")
	if code != http.StatusOK {
		t.Fatalf("GET /privacy.json = %d %.200s", code, body)
	}
	var tab struct {
		Events []struct {
			Kind   string `json:"kind"`
			Fields []struct {
				Name string `json:"name"`
			} `json:"fields"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &tab); err != nil {
		t.Fatalf("/privacy.json: %v", err)
	}
	listed := map[string]bool{}
	for _, e := range tab.Events {
		for _, f := range e.Fields {
			listed[e.Kind+"."+f.Name] = true
		}
	}
	reg := schemas.MustLoad()
	for _, kind := range reg.Kinds() {
		for _, f := range reg.Latest(schemas.Raw, kind).Fields {
			if !listed[kind+"."+f.Name] {
				t.Errorf("/privacy.json does not list %s.%s", kind, f.Name)
			}
			if !strings.Contains(page, f.Name) {
				t.Errorf("/privacy does not mention %s.%s", kind, f.Name)
			}
		}
	}
}

// Serve serves until its context ends, then drains and flushes: what it
// answered 202 is in the raw topic when it returns.
func TestServeFlushesWhatItAcceptedBeforeReturning(t *testing.T) {
	brokers := testenv.Kafka(t)
	tp := testenv.Topics(t, brokers, 2)
	url, stop := serve(t, testenv.KafkaArgs(brokers, tp))
	fleet := simulate.NewFleet(simulate.Config{Installations: 20, Seed: 60})
	var events []map[string]any
	ids := map[string]bool{}
	for len(events) < 100 {
		kind, rec, err := fleet.Next()
		if err != nil {
			t.Fatal(err)
		}
		ids[rec["event_id"].(string)] = true
		events = append(events, jsonevent.Event(kind, rec))
	}
	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url+"/v1/events", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", jsonevent.ContentType)
	req.Header.Set("Authorization", "Bearer "+relayToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST = %d %s", resp.StatusCode, answer)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	reg := schemas.MustLoad()
	for _, m := range testenv.ReadAll(t, brokers, tp.Raw) {
		_, rec, err := reg.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		delete(ids, rec["event_id"].(string))
	}
	if len(ids) != 0 {
		t.Errorf("%d events answered 202 are not in the raw topic", len(ids))
	}
}
