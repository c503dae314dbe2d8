package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/jsonevent"
	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

var update = flag.Bool("update", false, "rewrite the generated fixtures in testdata/")

// Credentials the tests configure: two relays, fleetA and fleetB, an operator,
// and the secrets of installation credentials (k2 signs, k1 still verifies).
const (
	tokenA   = "fleet-a-token-0123456789"
	tokenB   = "fleet-b-token-9876543210"
	tokenOps = "operator-token-0123456789"
	testKeys = "k2:second-secret-of-the-tests-0123456789\nk1:first-secret-of-the-tests-01234567890\n"
)

// testServer is a collector serving on a loopback port.
type testServer struct {
	*Server
	URL    string
	Reg    *prometheus.Registry
	Topics stream.Topics
	stop   func() error // cancels Serve and waits for it
	// The real writers, when the server writes to Kafka.
	batched, single *kafka.Writer
}

// testConfig returns a valid configuration with the test credentials; args
// override flags.
func testConfig(t testing.TB, args ...string) Config {
	t.Helper()
	tokens := testenv.File(t, "tokens", "fleetA:relay:"+tokenA+"\nfleetB:relay:"+tokenB+"\nops:operator:"+tokenOps+"\n")
	secrets := testenv.File(t, "secrets", testKeys)
	var cfg Config
	testenv.Configure(t, cfg.Register, append([]string{"--tokens-file", tokens, "--credential-secrets-file", secrets}, args...)...)
	return cfg
}

// startServer serves cfg with the given writers until the test ends.
func startServer(t testing.TB, cfg Config, batched, single Producer, tp stream.Topics) *testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(cfg, Deps{
		Schemas: schemas.MustLoad(), Batched: batched, Single: single, Topics: tp,
		Log: slog.New(slog.NewTextHandler(&testLog{t: t}, &slog.HandlerOptions{Level: slog.LevelWarn})), Metrics: reg, Gatherer: reg,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	ts := &testServer{Server: s, URL: "http://" + ln.Addr().String(), Reg: reg, Topics: tp}
	ts.stop = func() error {
		once.Do(func() { cancel(); serveErr = <-done })
		return serveErr
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

// kafkaServer starts a collector writing to fresh topics on the shared broker.
func kafkaServer(t testing.TB, args ...string) (*testServer, stream.Cluster) {
	t.Helper()
	brokers := testenv.Kafka(t)
	tp := testenv.Topics(t, brokers, 4)
	return kafkaServerOn(t, brokers, tp, args...), brokers
}

func kafkaServerOn(t testing.TB, brokers stream.Cluster, tp stream.Topics, args ...string) *testServer {
	t.Helper()
	cfg := testConfig(t, append(testenv.KafkaArgs(brokers, tp), args...)...)
	batched, single, err := Writers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, cfg, batched, single, tp)
	ts.batched, ts.single = batched, single
	// Registered after startServer's cleanup, so it runs first: drain, then flush.
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := errors.Join(batched.Close(), single.Close()); err != nil {
			t.Errorf("close writers: %v", err)
		}
	})
	return ts
}

type testLog struct{ t testing.TB }

func (w *testLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// fakeProducer acknowledges everything, optionally after a delay or a gate.
type fakeProducer struct {
	mu      sync.Mutex
	msgs    []kafka.Message
	gate    chan struct{} // when set, writes wait until it is closed
	calls   int
	entered atomic.Int32 // WriteMessages calls begun
}

func (f *fakeProducer) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	f.entered.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.msgs = append(f.msgs, msgs...)
	return nil
}

func (f *fakeProducer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs)
}

// fakeServer is a collector with fake writers, for tests that need no Kafka.
func fakeServer(t testing.TB, args ...string) (*testServer, *fakeProducer) {
	t.Helper()
	p := &fakeProducer{}
	tp := stream.DefaultTopics()
	return startServer(t, testConfig(t, args...), p, p, tp), p
}

// nativeEvents makes n simulated playback events in native form with unique ids.
func nativeEvents(t testing.TB, n int, seed uint64) []map[string]any {
	t.Helper()
	f := simulate.NewFleet(simulate.Config{Installations: 50, Seed: seed})
	out := make([]map[string]any, 0, n)
	for len(out) < n {
		kind, rec, err := f.Next()
		if err != nil {
			t.Fatal(err)
		}
		if kind == "playback" {
			out = append(out, rec)
		}
	}
	return out
}

// simEvent is a simulated event of any kind.
type simEvent struct {
	kind string
	rec  map[string]any
}

// mixedEvents makes n simulated events of every kind the simulator knows.
func mixedEvents(t testing.TB, n int, seed uint64) []simEvent {
	t.Helper()
	f := simulate.NewFleet(simulate.Config{Installations: 50, Seed: seed})
	out := make([]simEvent, n)
	for i := range out {
		var err error
		if out[i].kind, out[i].rec, err = f.Next(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// jsonBatch encodes native playback events as a JSON batch.
func jsonBatch(t testing.TB, recs []map[string]any) []byte {
	t.Helper()
	evs := make([]simEvent, len(recs))
	for i, r := range recs {
		evs[i] = simEvent{"playback", r}
	}
	return jsonMixed(t, evs)
}

func jsonMixed(t testing.TB, evs []simEvent) []byte {
	t.Helper()
	out := make([]map[string]any, len(evs))
	for i, e := range evs {
		out[i] = jsonevent.Event(e.kind, e.rec)
	}
	b, err := json.Marshal(map[string]any{"events": out})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// avroBatch frames single-object records as the Avro content type wants them.
func avroBatch(records ...[]byte) []byte {
	var out []byte
	for _, r := range records {
		out = binary.BigEndian.AppendUint32(out, uint32(len(r)))
		out = append(out, r...)
	}
	return out
}

func encodeRaw(t testing.TB, rec map[string]any) []byte {
	t.Helper()
	b, err := schemas.MustLoad().Latest(schemas.Raw, "playback").Encode(nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// post sends a batch and decodes the answer.
type answer struct {
	Status     int
	RetryAfter string
	Body       response
	Raw        string
}

func post(t testing.TB, url, token, contentType, encoding string, body []byte) answer {
	t.Helper()
	a, err := tryPost(http.DefaultClient, url, token, contentType, encoding, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func tryPost(c *http.Client, url, token, contentType, encoding string, body []byte) (answer, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After"), Raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.Body); err != nil {
			return a, err
		}
	}
	return a, nil
}

// rawIDs decodes every record of the raw topic and returns them by event id.
func rawRecords(t testing.TB, brokers stream.Cluster, topic string) map[string]rawRecord {
	t.Helper()
	reg := schemas.MustLoad()
	out := map[string]rawRecord{}
	for _, m := range testenv.ReadAll(t, brokers, topic) {
		_, rec, err := reg.Decode(m.Value)
		if err != nil {
			t.Fatalf("raw topic %s/%d@%d does not decode: %v", topic, m.Partition, m.Offset, err)
		}
		out[rec["event_id"].(string)] = rawRecord{msg: m, rec: rec}
	}
	return out
}

type rawRecord struct {
	msg kafka.Message
	rec map[string]any
}

// within fails unless fn returns within d.
func within(t testing.TB, d time.Duration, what string, fn func()) {
	t.Helper()
	start := time.Now()
	fn()
	if el := time.Since(start); el > d {
		t.Errorf("%s took %s, want at most %s", what, el.Round(time.Millisecond), d)
	}
}

// scrape returns the server's /metrics text.
func scrape(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testID names a test event: the UUID (version 5) of a readable name, so that
// fixtures and assertions can say which event they mean while every event id
// is a UUID, as the collector requires. The JSON fixtures in testdata/bad hold
// the same UUIDs (Python: uuid.uuid5(uuid.NAMESPACE_OID, name)).
func testID(name string) string { return uuid.NewSHA1(uuid.NameSpaceOID, []byte(name)).String() }
