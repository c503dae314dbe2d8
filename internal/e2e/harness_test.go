package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/enricher"
	"github.com/veiltelemetry/veil/internal/producer"
	"github.com/veiltelemetry/veil/internal/sink"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// harness is one isolated pipeline: its own topics, consumer groups, key
// directory and ClickHouse database, on the shared services or private ones.
type harness struct {
	t       *testing.T
	brokers stream.Cluster
	topics  stream.Topics
	ch      chstore.Options // the server and the account the sink and the test use; Database is db
	db      string
	keys    string
	groups  map[string]string
	log     *slog.Logger
	store   *chstore.Store

	// as runs a stage ("enricher", "sink", "simulate", "collector") as another
	// Kafka user than brokers' (the accounts test); sinkCH is the sink's
	// ClickHouse account when set, else ch's.
	as     map[string]stream.Cluster
	sinkCH *chstore.Options
}

// cluster is what a stage connects to Kafka as.
func (h *harness) cluster(stage string) stream.Cluster {
	if c, ok := h.as[stage]; ok {
		return c
	}
	return h.brokers
}

func newHarness(t *testing.T, brokers stream.Cluster, ch chstore.Options) *harness {
	t.Helper()
	h := &harness{t: t, brokers: brokers, ch: ch, db: testenv.Unique("veil_e2e"), keys: t.TempDir(),
		groups: map[string]string{"enricher": testenv.Unique("enricher"), "sink": testenv.Unique("sink")}}
	h.ch.Database = h.db
	h.topics = testenv.Topics(t, brokers, 4)
	h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		h.log = slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	t.Cleanup(func() {
		if h.store != nil {
			if t.Failed() && os.Getenv("VEIL_KEEP_FAILED") != "" {
				t.Logf("kept database %s and topics %s.* for inspection", h.db, strings.TrimSuffix(h.topics.Raw, ".raw"))
			} else {
				_ = h.store.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+h.db)
			}
			h.store.Close()
		}
	})
	return h
}

// stage is a pipeline stage running in this process.
type stage struct {
	name   string
	cancel context.CancelFunc
	done   chan error
}

func (h *harness) run(name string, fn func(ctx context.Context) error) *stage {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stage{name: name, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- fn(ctx) }()
	h.t.Cleanup(func() { s.stop(h.t) })
	return s
}

// stop cancels the stage and waits for it to drain and return.
func (s *stage) stop(t *testing.T) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("%s stopped with error: %v", s.name, err)
		}
	case <-time.After(time.Minute):
		t.Errorf("%s did not stop within a minute of cancellation", s.name)
	}
}

func (h *harness) kafkaArgs(stage string) []string {
	return append(testenv.KafkaArgs(h.cluster(stage), h.topics), "--metrics-addr", "")
}

func (h *harness) enricherConfig() enricher.Config {
	var cfg enricher.Config
	testenv.Configure(h.t, cfg.Register, append(h.kafkaArgs("enricher"), "--group", h.groups["enricher"], "--key-dir", h.keys, "--drain-timeout", "30s",
		"--service-catalog", demoCatalog(h.t))...)
	return cfg
}

// sinkArgs are the flags of a sink of this pipeline: a new instance, with a
// dedup directory of its own (extra flags may name another).
func (h *harness) sinkArgs(extra ...string) []string {
	ch := h.ch
	if h.sinkCH != nil {
		ch = *h.sinkCH
	}
	args := append(append(h.kafkaArgs("sink"), testenv.ClickHouseArgs(ch)...),
		"--group", h.groups["sink"], "--batch-wait", "300ms", "--batch-records", "20000",
		// Stages stopped mid-flow by these tests finish their batch, however
		// loaded the machine: the tests check what a graceful stop leaves.
		"--drain-timeout", "30s", "--dedup-dir", h.t.TempDir())
	return append(args, extra...)
}

func (h *harness) startEnricher() *stage {
	cfg := h.enricherConfig()
	return h.run("enricher", func(ctx context.Context) error {
		return enricher.Run(ctx, cfg, h.log.With("bin", "enricher"), prometheus.NewRegistry())
	})
}

func (h *harness) startSink(extra ...string) *stage {
	var cfg sink.Config
	testenv.Configure(h.t, cfg.Register, h.sinkArgs(extra...)...)
	return h.run("sink", func(ctx context.Context) error {
		return sink.Run(ctx, cfg, h.log.With("bin", "sink"), prometheus.NewRegistry())
	})
}

// waitTables waits until the sink created the tables, and opens the store.
func (h *harness) waitTables() {
	h.t.Helper()
	reg := schemas.MustLoad()
	testenv.Eventually(h.t, time.Minute, "ClickHouse tables created by the sink", func() (bool, string) {
		if h.store == nil {
			st, err := chstore.Open(context.Background(), h.ch, reg)
			if err != nil {
				return false, err.Error()
			}
			h.store = st
		}
		// The sink creates the tables before it consumes, migration by migration:
		// wait for the last migration, so that every table exists.
		ms, err := chstore.Migrations()
		if err != nil {
			return false, err.Error()
		}
		var n uint64
		err = h.store.Conn().QueryRow(context.Background(), fmt.Sprintf("SELECT count() FROM %s.schema_migrations WHERE version = %d", h.db, ms[len(ms)-1].Version)).Scan(&n)
		return err == nil && n == 1, fmt.Sprint(n, err)
	})
}

// simulate sends n canary events at rate events/s (0: unlimited) and returns how
// many Kafka acknowledged.
func (h *harness) simulate(n int64, rate int, seed int) producer.Summary {
	h.t.Helper()
	var cfg producer.SimulateConfig
	testenv.Configure(h.t, cfg.Register, append(testenv.KafkaArgs(h.cluster("simulate"), h.topics),
		"--count", fmt.Sprint(n), "--rate", fmt.Sprint(rate), "--seed", fmt.Sprint(seed), "--canary")...)
	s, err := producer.Simulate(context.Background(), cfg, h.log.With("bin", "simulate"), io.Discard)
	if err != nil {
		h.t.Fatalf("simulate: %v", err)
	}
	if s.Sent != n || s.Failed != 0 {
		h.t.Fatalf("simulate: %d acknowledged, %d failed, want all %d acknowledged", s.Sent, s.Failed, n)
	}
	return s
}

func (h *harness) count(q string) uint64 {
	h.t.Helper()
	var n uint64
	if err := h.store.Conn().QueryRow(context.Background(), strings.ReplaceAll(q, "{db}", h.db)).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// allEvents is a subquery over the event ids of every event table.
func (h *harness) allEvents() string { return h.allEventsWith("event_id") }

// allEventsWith is a subquery over the given columns of every event table.
func (h *harness) allEventsWith(columns string) string {
	var parts []string
	for _, kind := range schemas.MustLoad().Kinds() {
		parts = append(parts, "SELECT "+columns+" FROM {db}."+kind)
	}
	return "(" + strings.Join(parts, " UNION ALL ") + ")"
}

// waitRows waits until the event tables hold at least n rows, then a little
// longer so that anything beyond n would show.
func (h *harness) waitRows(n uint64, timeout time.Duration) {
	h.t.Helper()
	q := "SELECT count() FROM " + h.allEvents()
	testenv.Eventually(h.t, timeout, fmt.Sprintf("%d rows in the event tables of %s", n, h.db), func() (bool, string) {
		got := h.count(q)
		return got >= n, fmt.Sprintf("%d rows", got)
	})
	time.Sleep(2 * time.Second)
}

// assertExactlyOnce checks what analysts would see: n events, each once, across
// the event tables, and rollups that agree with their tables.
func (h *harness) assertExactlyOnce(n uint64) {
	h.t.Helper()
	if got := h.count("SELECT count() FROM " + h.allEvents()); got != n {
		h.t.Errorf("count() over all event tables = %d, want %d", got, n)
	}
	if got := h.count("SELECT uniqExact(event_id) FROM " + h.allEvents()); got != n {
		h.t.Errorf("uniqExact(event_id) over all event tables = %d, want %d", got, n)
	}
	for rollup, table := range map[string]string{
		"SELECT sum(events) FROM {db}.playback_daily": "SELECT count() FROM {db}.playback",
		"SELECT sum(crashes) FROM {db}.crashes_daily": "SELECT count() FROM {db}.crash",
	} {
		if r, c := h.count(rollup), h.count(table); r != c || c == 0 {
			h.t.Errorf("%s = %d, but %s = %d", rollup, r, table, c)
		}
	}
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary builds the named main package once per test run and returns its path.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "veil-e2e-bin")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./producer", "./enricher", "./sink", "./veilctl")
		cmd.Dir = testenv.RepoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as the image and scripts/bench build them
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

// process is a stage running as its own OS process, so it can be killed with SIGKILL.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (h *harness) startSinkProcess(extra ...string) *process {
	h.t.Helper()
	cmd := exec.Command(binary(h.t, "sink"), append([]string{"run"}, h.sinkArgs(extra...)...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	h.t.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// demoCatalog is the path of the demo service catalog, which the simulator draws
// its hosted ids and campaigns from.
func demoCatalog(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "catalog", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
