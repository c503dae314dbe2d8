package chstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// The tests here validate the migrations and every analyst query against a
// current ClickHouse engine: chDB, ClickHouse built as a library, in a Python
// virtual environment that scripts/chdb installs. No current server can run on
// this machine, but 18.16 (the real server of the other tests) is old enough
// that SQL which works there may not work on what docker-compose runs.

// currentServer is the version the migrations are rendered for: a current
// release, where LowCardinality is on.
var currentServer = struct{ major, minor int }{25, 8}

// chdbPython returns the python of the chDB venv named by VEIL_CHDB_PYTHON.
// Unset, the test is skipped visibly, or fails under CI=true.
func chdbPython(t *testing.T) string {
	t.Helper()
	py := os.Getenv("VEIL_CHDB_PYTHON")
	if py == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("VEIL_CHDB_PYTHON is not set: this test validates the SQL on a current ClickHouse through chDB; scripts/test sets it from scripts/chdb")
		}
		t.Skip("VEIL_CHDB_PYTHON not set: skipping the validation on a current ClickHouse (export VEIL_CHDB_PYTHON=$(scripts/chdb))")
	}
	if _, err := exec.LookPath(py); err != nil {
		t.Fatalf("VEIL_CHDB_PYTHON=%s: %v (run scripts/chdb to install it)", py, err)
	}
	return py
}

type chdbStatement struct {
	Name string `json:"name"`
	SQL  string `json:"sql"`
}

type chdbResult struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Error  string `json:"error"`
	Output string `json:"output"`
}

type chdbRun struct {
	Chdb    string       `json:"chdb"`
	Engine  string       `json:"engine"`
	Results []chdbResult `json:"results"`
}

// runChDB runs the statements in order in one fresh chDB session, in UTC as
// the test server runs, and returns every statement's result. A failing
// statement does not stop the others.
func runChDB(t *testing.T, py string, stmts []chdbStatement) chdbRun {
	t.Helper()
	in, err := json.Marshal(map[string]any{"statements": stmts})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join("testdata", "chdb_run.py"))
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); err != nil && code != 1 {
		t.Fatalf("chdb_run.py: %v (exit %d)\n%s", err, code, stderr.String())
	}
	var run chdbRun
	if err := json.Unmarshal(stdout.Bytes(), &run); err != nil {
		t.Fatalf("chdb_run.py output: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if len(run.Results) != len(stmts) {
		t.Fatalf("chdb_run.py answered %d statements of %d", len(run.Results), len(stmts))
	}
	if (err == nil) != allOK(run.Results) {
		t.Fatalf("chdb_run.py exit status %v disagrees with its results", err)
	}
	return run
}

func allOK(rs []chdbResult) bool {
	for _, r := range rs {
		if !r.OK {
			return false
		}
	}
	return true
}

// migrationStatements renders every embedded migration for database db and a
// current server, one named statement each.
func migrationStatements(t *testing.T, db string) []chdbStatement {
	t.Helper()
	ms, err := chstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no embedded migrations")
	}
	var out []chdbStatement
	for _, m := range ms {
		stmts, err := chstore.Render(m.SQL, db, chstore.FeaturesOf(currentServer.major, currentServer.minor))
		if err != nil {
			t.Fatalf("render %s: %v", m.Name, err)
		}
		if len(stmts) == 0 {
			t.Fatalf("%s renders to no statement", m.Name)
		}
		for i, s := range stmts {
			out = append(out, chdbStatement{Name: fmt.Sprintf("%s #%d", m.Name, i+1), SQL: s})
		}
	}
	return out
}

// analystQuery is one file of queries/.
type analystQuery struct{ name, sql string }

func analystQueries(t *testing.T) []analystQuery {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "queries", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("queries/ holds %d queries, want at least 8", len(files))
	}
	var out []analystQuery
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, analystQuery{filepath.Base(f), strings.TrimSpace(string(data))})
	}
	return out
}

func engineAtLeast(t *testing.T, engine string) {
	t.Helper()
	parts := strings.SplitN(engine, ".", 3)
	major, err1 := strconv.Atoi(parts[0])
	minor := 0
	var err2 error
	if len(parts) > 1 {
		minor, err2 = strconv.Atoi(parts[1])
	}
	if err1 != nil || err2 != nil || major < currentServer.major || major == currentServer.major && minor < currentServer.minor {
		t.Fatalf("chDB runs ClickHouse %q; the migrations were rendered for %d.%d, so this would not validate them", engine, currentServer.major, currentServer.minor)
	}
}

func TestMigrationsAndQueriesRunOnCurrentClickHouse(t *testing.T) {
	py := chdbPython(t)
	migrations := migrationStatements(t, "veil")
	stmts := []chdbStatement{{Name: "create database", SQL: "CREATE DATABASE IF NOT EXISTS veil"}}
	stmts = append(stmts, migrations...)
	// Every migration is idempotent: applying them again changes nothing.
	for _, m := range migrations {
		stmts = append(stmts, chdbStatement{Name: m.Name + " (again)", SQL: m.SQL})
	}
	stmts = append(stmts, chdbStatement{Name: "column types",
		SQL: "SELECT name, type FROM system.columns WHERE database = 'veil' AND table = 'playback' AND name IN ('device_type', 'event_id', 'kafka_offset') ORDER BY name"})
	queries := analystQueries(t)
	for _, q := range queries {
		stmts = append(stmts, chdbStatement{Name: q.name, SQL: q.sql})
	}
	// The events' INSERT leaves event_ids alone there too, and the sink's
	// INSERT of their ids stores them with the hour of the insert.
	stmts = append(stmts, eventIDStatements...)
	run := runChDB(t, py, stmts)
	t.Logf("chDB %s, ClickHouse %s: %d migration statements, %d queries", run.Chdb, run.Engine, len(migrations), len(queries))
	engineAtLeast(t, run.Engine)
	for _, r := range run.Results {
		if !r.OK {
			t.Errorf("%s fails on ClickHouse %s: %s", r.Name, run.Engine, r.Error)
		}
		checkEventIDs(t, r)
		if r.Name == "column types" && r.OK {
			want := "device_type\tLowCardinality(String)\nevent_id\tString\nkafka_offset\tUInt64\n"
			if r.Output != want {
				t.Errorf("playback columns on a current server:\n%s\nwant\n%s", r.Output, want)
			}
		}
	}
}

// analystDataset is a deterministic set of clean playback records over three
// days, with the values the policy produces: every query has something to
// count, and every group has ties broken only by the ORDER BY's last keys.
func analystDataset(tb *chstore.Table, n int) []map[string]any {
	r := rand.New(rand.NewPCG(5, 8))
	pick := func(list ...string) string { return list[r.IntN(len(list))] }
	base := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
	var out []map[string]any
	for i := 0; i < n; i++ {
		over := map[string]string{
			"event_id":        fmt.Sprintf("ev-%05d", i),
			"installation_id": fmt.Sprintf("e1.inst-%03d", r.IntN(150)),
			"country":         pick("US", "US", "US", "DE", "GB", "FR", ""),
			"device_type":     pick("tv", "tv", "streaming_stick", "mobile", "console", "web"),
			"platform":        pick("android", "android", "ios", "roku", "webos", "tizen"),
			"app_version":     pick("1.40.2", "1.41.0", "1.41.3", "1.42.0", "1.42.1"),
			"media_source":    "local",
			"catalog_id":      "",
			"playback_event":  pick("start", "progress", "progress", "stop"),
			"decision":        pick("direct_play", "direct_play", "direct_play", "direct_stream", "transcode"),
		}
		switch r.IntN(10) {
		case 0, 1, 2:
			over["media_type"], over["container"], over["resolution"] = "music", pick("flac", "mp3", "m4a", "ogg"), "none"
			over["played_bucket"] = pick("0%", "<10%", "10-25%", "25-50%", "50-75%", "75-90%", ">=90%")
		case 3:
			over["media_type"], over["container"], over["resolution"], over["played_bucket"] = "photo", "jpeg", pick("2-8MP", "8-16MP"), "n/a"
		default:
			over["media_type"], over["container"], over["resolution"] = "video", pick("mkv", "mp4", "avi", "m2ts"), pick("SD", "720p", "1080p", "1080p", "4K")
			over["played_bucket"] = pick("0%", "<10%", "10-25%", "25-50%", "50-75%", "75-90%", ">=90%")
		}
		if r.IntN(8) == 0 {
			kind := pick("trailer", "livetv", "dvr", "ad")
			over["media_source"], over["media_type"], over["container"] = "hosted", "video", "mp4"
			over["catalog_id"] = fmt.Sprintf("%s:%d", kind, r.IntN(15))
		}
		at := base.Add(time.Duration(r.IntN(72)) * time.Hour)
		out = append(out, playbackRecord(tb, at, i, over))
	}
	return out
}

// valuesInsert is an INSERT ... VALUES of recs into tb with the sink's column
// list, for chDB (the clickhouse-go driver cannot send this to 18.16).
func valuesInsert(db string, tb *chstore.Table, recs []map[string]any, offset int) string {
	var cols []string
	for _, f := range tb.Schema.Fields {
		cols = append(cols, f.Name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s.playback (%s, kafka_partition, kafka_offset) VALUES", db, strings.Join(cols, ", "))
	for i, rec := range recs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(" (")
		for _, c := range cols {
			switch v := rec[c].(type) {
			case time.Time:
				fmt.Fprintf(&b, "%d, ", v.Unix())
			case string:
				fmt.Fprintf(&b, "'%s', ", strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v))
			}
		}
		fmt.Fprintf(&b, "0, %d)", offset+i)
	}
	return b.String()
}

// tsv formats query results as ClickHouse's TSV output does for the types the
// analyst queries return.
func tsv(t *testing.T, st *chstore.Store, q string) string {
	t.Helper()
	rows, err := st.Conn().Query(context.Background(), q)
	if err != nil {
		t.Fatalf("ClickHouse %s: %v", st.Version(), err)
	}
	defer rows.Close()
	cols := rows.ColumnTypes()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		for i, c := range cols {
			vals[i] = reflect.New(c.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatal(err)
		}
		for i, c := range cols {
			if i > 0 {
				b.WriteByte('\t')
			}
			switch v := reflect.ValueOf(vals[i]).Elem().Interface().(type) {
			case time.Time:
				if c.DatabaseTypeName() == "Date" {
					b.WriteString(v.UTC().Format("2006-01-02"))
				} else {
					b.WriteString(v.UTC().Format("2006-01-02 15:04:05"))
				}
			case float64:
				b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
			default:
				fmt.Fprint(&b, v)
			}
		}
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestQueriesAgreeBetween18_16AndCurrentClickHouse loads the same events into
// the test server (18.16) and into chDB and requires every analyst query to
// return the same rows, in the same order, on both.
func TestQueriesAgreeBetween18_16AndCurrentClickHouse(t *testing.T) {
	py := chdbPython(t)
	st := freshStore(t, "veil_chdb")
	tb, ok := st.Table("playback")
	if !ok {
		t.Fatal("no playback table")
	}
	recs := analystDataset(tb, 3000)
	half := len(recs) / 2

	// Two inserts on each side: the rollups then hold unmerged rows, which the
	// queries must aggregate.
	ctx := context.Background()
	for i, batch := range [][]map[string]any{recs[:half], recs[half:]} {
		rows := chstore.NewRows(tb)
		for j, rec := range batch {
			if err := rows.Append(rec, 0, int64(i*half+j)); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Insert(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	stmts := []chdbStatement{{Name: "create database", SQL: "CREATE DATABASE veil"}}
	stmts = append(stmts, migrationStatements(t, "veil")...)
	stmts = append(stmts,
		chdbStatement{Name: "insert 1", SQL: valuesInsert("veil", tb, recs[:half], 0)},
		chdbStatement{Name: "insert 2", SQL: valuesInsert("veil", tb, recs[half:], half)},
		chdbStatement{Name: "count", SQL: "SELECT count(), uniqExact(event_id) FROM veil.playback"})
	queries := analystQueries(t)
	for _, q := range queries {
		stmts = append(stmts, chdbStatement{Name: q.name, SQL: q.sql})
	}
	// The events' INSERT leaves event_ids alone there too, and the sink's
	// INSERT of their ids stores them with the hour of the insert.
	stmts = append(stmts, eventIDStatements...)
	run := runChDB(t, py, stmts)
	engineAtLeast(t, run.Engine)
	byName := map[string]chdbResult{}
	for _, r := range run.Results {
		if !r.OK {
			t.Fatalf("chDB (ClickHouse %s): %s: %s", run.Engine, r.Name, r.Error)
		}
		byName[r.Name] = r
		checkEventIDs(t, r)
	}
	if got, want := byName["count"].Output, fmt.Sprintf("%d\t%d\n", len(recs), len(recs)); got != want {
		t.Fatalf("chDB holds %q rows, want %q", got, want)
	}
	for _, q := range queries {
		old := tsv(t, st, strings.ReplaceAll(q.sql, "veil.", st.Database()+"."))
		cur := byName[q.name].Output
		if old == "" {
			t.Errorf("%s returns no rows on the test data", q.name)
		}
		t.Logf("%s: %d rows on both", q.name, strings.Count(old, "\n"))
		if old != cur {
			t.Errorf("%s differs between ClickHouse %s and %s:\n%s", q.name, st.Version(), run.Engine, lineDiff(old, cur))
		}
	}
}

// lineDiff shows the first lines where two outputs differ.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	shown := 0
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y && shown < 5 {
			fmt.Fprintf(&out, "line %d:\n  old: %q\n  new: %q\n", i+1, x, y)
			shown++
		}
	}
	fmt.Fprintf(&out, "(%d and %d lines)", len(al), len(bl))
	return out.String()
}

// TestEveryQueryIsDocumented: each file of queries/ opens with comment lines
// saying the question it answers and how to read its result, and names the
// database as veil. (which the tests replace).
func TestEveryQueryIsDocumented(t *testing.T) {
	for _, q := range analystQueries(t) {
		var header []string
		for _, line := range strings.Split(q.sql, "\n") {
			if !strings.HasPrefix(line, "--") {
				break
			}
			header = append(header, line)
		}
		doc := strings.Join(header, "\n")
		if !strings.HasPrefix(doc, "-- Question:") || !strings.Contains(doc, "-- Reading the result:") {
			t.Errorf("%s: must start with a '-- Question:' comment and have a '-- Reading the result:' comment before the SQL", q.name)
		}
		if !strings.Contains(q.sql, "FROM veil.") {
			t.Errorf("%s: must read tables as veil.<table>", q.name)
		}
	}
}

// eventIDStatements insert two crashes, then their ids the way the sink does
// (chstore.Store.InsertIDs), and read event_ids after each; checkEventIDs
// checks what was read.
var eventIDStatements = []chdbStatement{
	{Name: "insert two crashes", SQL: "INSERT INTO veil.crash (event_id, event_hour, installation_id, country, region, device_type, platform, app_version, component, exception_type, stack_hash, kafka_partition, kafka_offset) " +
		"VALUES ('e1', toDateTime('2026-12-01 10:00:00'), 'i', '', '', '', '', '', '', '', '', 3, 7), ('e2', toDateTime('2026-12-01 10:00:00'), 'i', '', '', '', '', '', '', '', '', 3, 8)"},
	{Name: "event ids after the events", SQL: "SELECT count() FROM veil.event_ids"},
	{Name: "insert their ids", SQL: "INSERT INTO veil.event_ids (kafka_partition, kafka_offset, event_id, inserted_hour) VALUES (3, 7, 'e1', toStartOfHour(now())), (3, 8, 'e2', toStartOfHour(now()))"},
	{Name: "event ids", SQL: "SELECT kafka_partition, kafka_offset, event_id, inserted_hour = toStartOfHour(now()) FROM veil.event_ids ORDER BY kafka_offset"},
}

func checkEventIDs(t *testing.T, r chdbResult) {
	t.Helper()
	switch {
	case !r.OK:
	case r.Name == "event ids after the events" && r.Output != "0\n":
		t.Errorf("event_ids after inserting two crashes holds %s rows, want 0: a view still writes it", strings.TrimSpace(r.Output))
	case r.Name == "event ids" && r.Output != "3\t7\te1\t1\n3\t8\te2\t1\n":
		t.Errorf("event_ids after the sink's insert of the ids:\n%s\nwant both, in the hour of the insert", r.Output)
	}
}
