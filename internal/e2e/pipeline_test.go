package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/enricher"
	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/producer"
	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/internal/sink"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// pipeline is one isolated pipeline: its own topics, groups and database.
type pipeline struct {
	brokers []string
	topics  stream.Topics
	chAddr  string
	db      string
	store   *chstore.Store
	cancel  context.CancelFunc
	done    chan error
}

func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	p := &pipeline{brokers: testenv.Kafka(t), chAddr: testenv.ClickHouse(t), db: testenv.Unique("veil_e2e")}
	p.topics = testenv.Topics(t, p.brokers, 4)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	kargs := append(testenv.KafkaArgs(p.brokers, p.topics), "--metrics-addr", "")

	var ecfg enricher.Config
	testenv.Configure(t, ecfg.Register, append(kargs, "--group", testenv.Unique("enricher"), "--key-dir", t.TempDir())...)
	var scfg sink.Config
	testenv.Configure(t, scfg.Register, append(kargs, "--group", testenv.Unique("sink"), "--clickhouse-addr", p.chAddr,
		"--clickhouse-db", p.db, "--batch-wait", "300ms")...)

	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 2)
	go func() { p.done <- enricher.Run(ctx, ecfg, log.With("bin", "enricher"), obs.NewRegistry()) }()
	go func() { p.done <- sink.Run(ctx, scfg, log.With("bin", "sink"), obs.NewRegistry()) }()

	reg := schemas.MustLoad()
	var err error
	testenv.Eventually(t, time.Minute, "ClickHouse tables created by the sink", func() (bool, string) {
		if p.store == nil {
			p.store, err = chstore.Open(context.Background(), chstore.Options{Addr: p.chAddr, Database: p.db}, reg)
			if err != nil {
				return false, err.Error()
			}
		}
		var n uint64
		err = p.store.Conn().QueryRow(context.Background(), "SELECT count() FROM system.tables WHERE database = ? AND name = 'playback_daily'", p.db).Scan(&n)
		return err == nil && n == 1, fmt.Sprint(n, err)
	})
	t.Cleanup(func() {
		p.stop(t)
		if p.store != nil {
			_ = p.store.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+p.db)
			p.store.Close()
		}
	})
	return p
}

func (p *pipeline) stop(t *testing.T) {
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	for i := 0; i < 2; i++ {
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("stage stopped with error: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("stage did not stop within a minute of cancellation")
			return
		}
	}
}

func (p *pipeline) simulate(t *testing.T, n int64, canary bool) producer.Summary {
	t.Helper()
	var cfg producer.SimulateConfig
	args := append(testenv.KafkaArgs(p.brokers, p.topics), "--count", fmt.Sprint(n), "--seed", "7")
	if canary {
		args = append(args, "--canary")
	}
	testenv.Configure(t, cfg.Register, args...)
	s, err := producer.Simulate(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	if s.Sent != n || s.Failed != 0 {
		t.Fatalf("simulate: sent %d, failed %d, want %d sent", s.Sent, s.Failed, n)
	}
	return s
}

func (p *pipeline) count(t *testing.T, q string) uint64 {
	t.Helper()
	var n uint64
	if err := p.store.Conn().QueryRow(context.Background(), strings.ReplaceAll(q, "{db}", p.db)).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (p *pipeline) waitRows(t *testing.T, n uint64) {
	t.Helper()
	testenv.Eventually(t, 3*time.Minute, fmt.Sprintf("%d rows in %s.playback", n, p.db), func() (bool, string) {
		got := p.count(t, "SELECT count() FROM {db}.playback")
		return got >= n, fmt.Sprintf("%d rows", got)
	})
}

// TestPipelineLandsEveryEventOnceWithoutIdentifiers is the foundation's promise:
// N simulated events with a unique canary in every identifying field arrive in
// ClickHouse exactly once, and no canary appears in the clean topic or in any
// String column.
func TestPipelineLandsEveryEventOnceWithoutIdentifiers(t *testing.T) {
	const n = 20000
	start := time.Now()
	p := startPipeline(t)
	t.Logf("pipeline started in %s", time.Since(start).Round(time.Millisecond))
	p.simulate(t, n, true)
	t.Logf("%d events sent after %s", n, time.Since(start).Round(time.Millisecond))
	p.waitRows(t, n)
	t.Logf("%d rows in ClickHouse after %s", n, time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // anything beyond n would arrive now

	if got := p.count(t, "SELECT count() FROM {db}.playback"); got != n {
		t.Errorf("count() = %d, want %d", got, n)
	}
	if got := p.count(t, "SELECT uniqExact(event_id) FROM {db}.playback"); got != n {
		t.Errorf("uniqExact(event_id) = %d, want %d", got, n)
	}
	if got := p.count(t, "SELECT sum(events) FROM {db}.playback_daily"); got != n {
		t.Errorf("rollup playback_daily sum(events) = %d, want %d", got, n)
	}

	p.checkQueries(t, n)

	// The scanner must see canaries where they are allowed, or it proves nothing.
	raw := testenv.ReadAll(t, p.brokers, p.topics.Raw)
	if c := countCanaries(raw); c != n {
		t.Fatalf("raw topic: %d of %d records carry canaries; the leak check below would be meaningless", c, len(raw))
	}
	clean := testenv.ReadAll(t, p.brokers, p.topics.Clean)
	if len(clean) < n {
		t.Errorf("clean topic holds %d records, want at least %d", len(clean), n)
	}
	if c := countCanaries(clean); c != 0 {
		t.Errorf("clean topic: %d records carry a canary (an identifier leaked)", c)
	}
	if dl := testenv.ReadAll(t, p.brokers, p.topics.DeadLetter); len(dl) != 0 {
		t.Errorf("dead-letter topic holds %d records, want 0; first: %s", len(dl), stream.Header(dl[0], stream.HeaderError))
	}

	t.Logf("topics checked after %s", time.Since(start).Round(time.Millisecond))
	// Every String column of every table in the database.
	rows, err := p.store.Conn().Query(context.Background(),
		"SELECT table, name FROM system.columns WHERE database = ? AND type LIKE '%String%'", p.db)
	if err != nil {
		t.Fatal(err)
	}
	var checked int
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		checked++
		if c := p.count(t, fmt.Sprintf("SELECT count() FROM {db}.`%s` WHERE position(toString(`%s`), '%s') > 0", table, col, simulate.CanaryPrefix)); c != 0 {
			t.Errorf("ClickHouse %s.%s: %d rows contain a canary", table, col, c)
		}
	}
	rows.Close()
	if checked < 20 {
		t.Errorf("checked only %d String columns; the table should have more", checked)
	}
}

func countCanaries(msgs []kafka.Message) int {
	n := 0
	needle := []byte(simulate.CanaryPrefix)
	for _, m := range msgs {
		hit := bytes.Contains(m.Value, needle) || bytes.Contains(m.Key, needle)
		for _, h := range m.Headers {
			hit = hit || bytes.Contains(h.Value, needle)
		}
		if hit {
			n++
		}
	}
	return n
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// checkQueries runs every analyst query in queries/ against the test database and
// checks the figures it can: the plays query accounts for every event, and every
// query returns rows.
func (p *pipeline) checkQueries(t *testing.T, n uint64) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "queries", "*.sql"))
	if err != nil || len(files) < 2 {
		t.Fatalf("queries/*.sql: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		q := strings.ReplaceAll(string(data), "veil.", p.db+".")
		rows, err := p.store.Conn().Query(context.Background(), q)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		cols := rows.ColumnTypes()
		var got int
		var events uint64
		for rows.Next() {
			vals := make([]any, len(cols))
			for i, c := range cols {
				vals[i] = reflect.New(c.ScanType()).Interface()
			}
			if err := rows.Scan(vals...); err != nil {
				t.Fatalf("%s: scan: %v", filepath.Base(f), err)
			}
			for i, c := range cols {
				if c.Name() == "events" {
					events += reflect.ValueOf(vals[i]).Elem().Uint()
				}
			}
			got++
		}
		rows.Close()
		if got == 0 {
			t.Errorf("%s returned no rows", filepath.Base(f))
		}
		if strings.Contains(f, "plays_by_media_type_resolution") && events != n {
			t.Errorf("%s: events add up to %d, want %d", filepath.Base(f), events, n)
		}
	}
}
