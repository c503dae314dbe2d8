package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// TestPipelineLandsEveryEventOnceWithoutIdentifiers is the foundation's promise:
// N simulated events with a unique canary in every identifying field arrive in
// ClickHouse exactly once, and no canary appears in the clean topic or in any
// String column.
func TestPipelineLandsEveryEventOnceWithoutIdentifiers(t *testing.T) {
	const n = 100000
	start := time.Now()
	h := newHarness(t, testenv.Kafka(t), testenv.ClickHouse(t))
	h.startEnricher()
	h.startSink()
	h.waitTables()
	t.Logf("pipeline started in %s", time.Since(start).Round(time.Millisecond))
	h.simulate(n, 0, 7)
	t.Logf("%d events sent after %s", n, time.Since(start).Round(time.Millisecond))
	h.waitRows(n, 3*time.Minute)
	t.Logf("%d rows in ClickHouse after %s", n, time.Since(start).Round(time.Millisecond))
	h.assertExactlyOnce(n)
	h.checkQueries()

	// The scanner must see canaries where they are allowed, or it proves nothing.
	raw := testenv.ReadAll(t, h.brokers, h.topics.Raw)
	if c := countCanaries(raw); c != n {
		t.Fatalf("raw topic: %d of %d records carry canaries; the leak check below would be meaningless", c, len(raw))
	}
	clean := testenv.ReadAll(t, h.brokers, h.topics.Clean)
	if len(clean) < n {
		t.Errorf("clean topic holds %d records, want at least %d", len(clean), n)
	}
	if c := countCanaries(clean); c != 0 {
		t.Errorf("clean topic: %d records carry a canary (an identifier leaked)", c)
	}
	h.assertNoTimeFinerThanTheHour(clean)
	if dl := testenv.ReadAll(t, h.brokers, h.topics.DeadLetter); len(dl) != 0 {
		t.Errorf("dead-letter topic holds %d records, want 0; first: %s", len(dl), stream.Header(dl[0], stream.HeaderError))
	}
	t.Logf("topics checked after %s", time.Since(start).Round(time.Millisecond))

	// Every String column of every table in the database.
	rows, err := h.store.Conn().Query(context.Background(),
		"SELECT table, name FROM system.columns WHERE database = ? AND type LIKE '%String%'", h.db)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ table, name string }
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.table, &c.name); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if len(cols) < 20 {
		t.Errorf("found only %d String columns; the table should have more", len(cols))
	}
	for _, c := range cols {
		q := fmt.Sprintf("SELECT count() FROM {db}.`%s` WHERE position(toString(`%s`), '%s') > 0", c.table, c.name, simulate.CanaryPrefix)
		if n := h.count(q); n != 0 {
			t.Errorf("ClickHouse %s.%s: %d rows contain a canary", c.table, c.name, n)
		}
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
// checks the figures it can: the plays query accounts for every playback event,
// and every query returns rows.
func (h *harness) checkQueries() {
	t := h.t
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
		q := strings.ReplaceAll(string(data), "veil.", h.db+".")
		rows, err := h.store.Conn().Query(context.Background(), q)
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
		if strings.Contains(f, "plays_by_media_type_resolution") {
			if want := h.count("SELECT count() FROM {db}.playback"); events != want || want == 0 {
				t.Errorf("%s: events add up to %d, want the %d rows of the playback table", filepath.Base(f), events, want)
			}
		}
	}
}
