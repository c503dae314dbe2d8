package loadgen

import (
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/collector"
	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

const token = "loadgen-test-token-0123"

// startCollector serves a collector on a loopback port, writing to fresh topics.
func startCollector(t *testing.T) (url string, brokers stream.Cluster, raw string) {
	brokers = testenv.Kafka(t)
	tp := testenv.Topics(t, brokers, 4)
	var cfg collector.Config
	testenv.Configure(t, cfg.Register, append(testenv.KafkaArgs(brokers, tp), "--tokens-file", testenv.File(t, "tokens", "bench:relay:"+token))...)
	batched, single, err := collector.Writers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := obs.NewRegistry() // with the process's RSS, which loadgen reads from /metrics
	if err != nil {
		t.Fatal(err)
	}
	s, err := collector.New(cfg, collector.Deps{Schemas: schemas.MustLoad(), Batched: batched, Single: single, Topics: tp,
		Metrics: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := errors.Join(<-done, batched.Close(), single.Close()); err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String(), brokers, tp.Raw
}

// A run bounded by a request count posts exactly that many batches, every event
// with its own id, and reports what the collector accepted.
func TestRunPostsFreshEventsAndReports(t *testing.T) {
	url, brokers, raw := startCollector(t)
	cfg := Config{URL: url, Token: token, Clients: 3, Batch: 50, Requests: 12, Installations: 100, Seed: 3, Pool: 2, Timeout: 10 * time.Second, PID: os.Getpid()}
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 12 || rep.Statuses[202] != 12 || rep.Accepted != 600 || rep.Sent != 600 || rep.Errors != 0 {
		t.Fatalf("report %+v, want 12 requests answered 202 with 600 events accepted", rep)
	}
	if rep.RSS <= 0 || rep.PeakRSS < rep.RSS || len(rep.Latencies) != 12 || rep.Percentile(99) < rep.Percentile(50) {
		t.Errorf("report: rss %d peak %d, %d latencies (p50 %s p99 %s)", rep.RSS, rep.PeakRSS, len(rep.Latencies), rep.Percentile(50), rep.Percentile(99))
	}
	ids := map[string]bool{}
	reg := schemas.MustLoad()
	for _, m := range testenv.ReadAll(t, brokers, raw) {
		_, rec, err := reg.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		ids[rec["event_id"].(string)] = true
	}
	if len(ids) != 600 {
		t.Errorf("raw topic holds %d distinct event ids, want 600 (the pool of 2 bodies per client is reused with fresh ids)", len(ids))
	}
	out := rep.String()
	for _, want := range []string{"summary accepted_per_s=", "status 202=12", "collector rss"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	t.Log(out)
}

// A run bounded by time stops by itself, and reads the RSS from /metrics.
func TestRunStopsAfterItsDuration(t *testing.T) {
	url, _, _ := startCollector(t)
	cfg := Config{URL: url, Token: token, Clients: 2, Batch: 20, Duration: 1500 * time.Millisecond, Installations: 50, Seed: 1, Pool: 1, Timeout: 5 * time.Second}
	start := time.Now()
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("a 1.5s run took %s", el)
	}
	if rep.Requests == 0 || rep.Statuses[202] != rep.Requests || rep.RSS <= 0 {
		t.Errorf("report %+v: want only 202s and the RSS from /metrics", rep)
	}
}

// A wrong token is answered, and reported, as 401s.
func TestRunReportsRefusals(t *testing.T) {
	url, _, _ := startCollector(t)
	rep, err := Run(context.Background(), Config{URL: url, Token: "wrong-token-0123456789", Clients: 1, Batch: 5, Requests: 3, Installations: 10, Seed: 1, Pool: 1, Timeout: 5 * time.Second}, nil)
	if err != nil || rep.Statuses[401] != 3 || rep.Accepted != 0 {
		t.Errorf("report %+v, %v; want three 401s", rep, err)
	}
}

// The token comes from a file or the environment, never from the command line.
func TestTokenFromAFileOrTheEnvironment(t *testing.T) {
	parse := func(env map[string]string, args ...string) (Config, error) {
		fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var cfg Config
		cfg.Register(fs)
		err := config.Parse(fs, args, config.MapLookup(env))
		return cfg, err
	}
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
	}{
		"file":     {nil, []string{"--token-file", testenv.File(t, "token", token+"\n")}},
		"variable": {map[string]string{"VEIL_TOKEN": token}, nil},
	} {
		cfg, err := parse(tc.env, tc.args...)
		if err != nil || cfg.Validate() != nil || cfg.token() != token {
			t.Errorf("%s: token %q, %v, %v; want %q", name, cfg.token(), err, cfg.Validate(), token)
		}
	}
	if _, err := parse(nil, "--token", token); err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -token") {
		t.Errorf("--token on the command line: %v, want it refused", err)
	}
}

func TestConfigValidate(t *testing.T) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	var cfg Config
	cfg.Register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--token-file or VEIL_TOKEN") {
		t.Errorf("defaults without a token: %v, want --token-file or VEIL_TOKEN required", err)
	}
	cfg.Token = token
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults with a token: %v", err)
	}
	cfg.Duration, cfg.Requests = 0, 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "bound the run") {
		t.Errorf("an unbounded run: %v, want an error", err)
	}
}
