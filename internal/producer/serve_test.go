package producer

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/consent"
	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

const token = "serve-test-token-42"

// serve runs Serve on the test's topics and returns its URL once it is ready,
// and a function that stops it and reports how it ended.
func serve(t *testing.T, args []string) (string, func() error) {
	t.Helper()
	addr := testenv.FreeAddr(t)
	var cfg ServeConfig
	testenv.Configure(t, cfg.Register, append(args, "--listen", addr, "--tokens", "test:"+token)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, slog.New(slog.DiscardHandler), obs.NewRegistry()) }()
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
