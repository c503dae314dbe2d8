package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/catalog"
	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/geo"
	"github.com/veiltelemetry/veil/internal/privacy"
	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// TestAnalystQueriesReturnTheFiguresOfTheLoadedEvents loads a known set of
// clean events (the simulator's raw events, over four days, through the
// privacy policy) into a fresh database and checks every query in queries/
// row by row against figures computed here from the same records: the
// counters, the shares, the distinct installations, the order and the limits.
// It checks again after the rollups' parts are merged, since the queries must
// give the same answer whatever the merge state.
//
// The distinct counts use uniq, which is approximate in general but keeps every
// hash up to 65,536 distinct values: with this data it is exact, and the data is
// deterministic, so the comparison is exact.
func TestAnalystQueriesReturnTheFiguresOfTheLoadedEvents(t *testing.T) {
	o := testenv.ClickHouse(t)
	o.Database = testenv.Unique("veil_queries")
	ctx := context.Background()
	st, err := chstore.Open(ctx, o, schemas.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = st.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+st.Database())
		st.Close()
	})
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tb, ok := st.Table("playback")
	if !ok {
		t.Fatal("no playback table")
	}

	recs := analystEvents(t, 30000)
	// Several inserts, so the rollups start with unmerged rows of the same key.
	rows := chstore.NewRows(tb)
	for i, rec := range recs {
		flat, err := tb.Schema.ToFlat(rec)
		if err == nil {
			err = rows.AppendFlat(flat, i%4, int64(i))
		}
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if rows.Len() == 5000 || i == len(recs)-1 {
			if err := st.Insert(ctx, rows); err != nil {
				t.Fatal(err)
			}
			rows.Reset()
		}
	}

	want := expectedFigures(recs)
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "queries", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := want[filepath.Base(f)]; !ok {
			t.Errorf("queries/%s: no expected figures in this test; add them", filepath.Base(f))
		}
	}
	check := func(stage string) {
		for _, f := range files {
			name := filepath.Base(f)
			exp, ok := want[name]
			if !ok {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := queryCells(t, st, strings.ReplaceAll(string(data), "veil.", st.Database()+"."))
			if len(exp) == 0 {
				t.Fatalf("%s: the test data gives no expected rows", name)
			}
			compareFigures(t, stage+": "+name, got, exp)
			if stage == "before merges" {
				t.Logf("%s: %d rows checked", name, len(got))
			}
		}
	}
	check("before merges")
	for _, v := range []string{"playback_daily", "installations_daily", "playback"} {
		if err := st.Conn().Exec(ctx, "OPTIMIZE TABLE "+st.Database()+"."+v+" FINAL"); err != nil {
			t.Fatalf("optimize %s: %v", v, err)
		}
	}
	check("after OPTIMIZE FINAL")
}

// analystPseudonyms is a fixed-key HMAC, so the data is the same every run.
type analystPseudonyms struct{}

func (analystPseudonyms) Pseudonym(field, value string) (string, error) {
	m := hmac.New(sha256.New, []byte("queries-test-key"))
	m.Write([]byte(field + "\x00" + value))
	return "e0." + hex.EncodeToString(m.Sum(nil)[:12]), nil
}

// analystGeo resolves postal codes as the real locator does and IP addresses
// by their first byte; 203.x stays unknown.
type analystGeo struct{}

func (analystGeo) Locate(ip, zip string) (string, string) {
	if c, r := (geo.Locator{}).Locate("", zip); c != "" {
		return c, r
	}
	var first int
	_, _ = fmt.Sscanf(ip, "%d.", &first)
	switch first {
	case 24, 73:
		return "US", ""
	case 31, 46, 62:
		return "DE", ""
	case 81, 86, 92:
		return "GB", ""
	case 109, 151, 176, 185:
		return "FR", ""
	}
	return "", ""
}

// analystEvents returns n clean playback records: the simulator's events at
// hours spread over the four days before now, through the privacy policy.
func analystEvents(t *testing.T, n int) []map[string]any {
	t.Helper()
	reg := schemas.MustLoad()
	pol, err := privacy.New(reg, privacy.Deps{Pseudonyms: analystPseudonyms{}, Geo: analystGeo{}, Catalog: catalog.Demo()})
	if err != nil {
		t.Fatal(err)
	}
	kp, ok := pol.For(reg.Latest(schemas.Raw, "playback"))
	if !ok {
		t.Fatal("no policy for raw playback")
	}
	fleet := simulate.NewFleet(simulate.Config{Installations: 600, Seed: 42})
	r := rand.New(rand.NewPCG(42, 7))
	end := time.Now().UTC().Truncate(time.Hour)
	out := make([]map[string]any, 0, n)
	for len(out) < n {
		kind, raw, err := fleet.Next()
		if err != nil {
			t.Fatal(err)
		}
		if kind != "playback" {
			continue
		}
		raw["event_time"] = end.Add(-time.Duration(r.Int64N(int64(96 * time.Hour))))
		rec, err := kp.Apply(raw)
		if err != nil {
			t.Fatalf("policy: %v", err)
		}
		out = append(out, rec)
	}
	return out
}

// A figure is one expected cell: a string, a uint64 count, a float64 share
// (the query rounds it to one decimal), or a time.Time day or hour.
type figures = [][]any

// expectedFigures computes, for each query file, the rows it must return.
func expectedFigures(recs []map[string]any) map[string]figures {
	s := func(rec map[string]any, f string) string { return rec[f].(string) }
	hour := func(rec map[string]any) time.Time { return rec["event_hour"].(time.Time).UTC() }
	day := func(rec map[string]any) time.Time { return hour(rec).Truncate(24 * time.Hour) }
	start := func(rec map[string]any) bool { return s(rec, "playback_event") == "start" }
	b2u := func(b bool) uint64 {
		if b {
			return 1
		}
		return 0
	}

	// groups counts plays, events and distinct installations by a key.
	type group struct {
		key           []any
		plays, events uint64
		inst          map[string]bool
		stops         uint64
		decisions     map[string]uint64
	}
	groupBy := func(filter func(map[string]any) bool, key func(map[string]any) []any) []*group {
		idx := map[string]*group{}
		var out []*group
		for _, rec := range recs {
			if filter != nil && !filter(rec) {
				continue
			}
			k := key(rec)
			id := fmt.Sprintf("%q", k)
			g := idx[id]
			if g == nil {
				g = &group{key: k, inst: map[string]bool{}, decisions: map[string]uint64{}}
				idx[id] = g
				out = append(out, g)
			}
			g.plays += b2u(start(rec))
			g.events++
			g.inst[s(rec, "installation_id")] = true
			g.decisions[s(rec, "decision")]++
		}
		return out
	}
	// order sorts by the comparisons in turn: each returns <0, 0 or >0.
	order := func(gs []*group, cmps ...func(a, b *group) int) {
		sort.Slice(gs, func(i, j int) bool {
			for _, c := range cmps {
				if r := c(gs[i], gs[j]); r != 0 {
					return r < 0
				}
			}
			return false
		})
	}
	keyAsc := func(i int) func(a, b *group) int {
		return func(a, b *group) int {
			switch x := a.key[i].(type) {
			case time.Time:
				return x.Compare(b.key[i].(time.Time))
			default:
				return strings.Compare(x.(string), b.key[i].(string))
			}
		}
	}
	desc := func(f func(*group) uint64) func(a, b *group) int {
		return func(a, b *group) int {
			switch x, y := f(a), f(b); {
			case x > y:
				return -1
			case x < y:
				return 1
			}
			return 0
		}
	}
	plays := func(g *group) uint64 { return g.plays }
	insts := func(g *group) uint64 { return uint64(len(g.inst)) }
	rowsOf := func(gs []*group, cells func(*group) []any) figures {
		var out figures
		for _, g := range gs {
			out = append(out, append(append([]any{}, g.key...), cells(g)...))
		}
		return out
	}
	playsEvents := func(g *group) []any { return []any{g.plays, g.events} }
	want := map[string]figures{}

	g := groupBy(nil, func(r map[string]any) []any { return []any{day(r), s(r, "media_type"), s(r, "resolution")} })
	order(g, keyAsc(0), desc(plays), keyAsc(1), keyAsc(2))
	want["plays_by_media_type_resolution.sql"] = rowsOf(g, playsEvents)

	g = groupBy(nil, func(r map[string]any) []any { return []any{day(r), s(r, "platform")} })
	order(g, keyAsc(0), desc(insts), keyAsc(1))
	want["installations_per_day.sql"] = rowsOf(g, func(g *group) []any { return []any{insts(g)} })

	g = groupBy(nil, func(r map[string]any) []any { return []any{day(r), s(r, "device_type")} })
	order(g, keyAsc(0), desc(plays), keyAsc(1))
	want["plays_by_device_type.sql"] = rowsOf(g, playsEvents)

	dayPlays := map[time.Time]uint64{}
	for _, r := range recs {
		dayPlays[day(r)] += b2u(start(r))
	}
	g = groupBy(nil, func(r map[string]any) []any { return []any{day(r), s(r, "container")} })
	order(g, keyAsc(0), desc(plays), keyAsc(1))
	want["plays_by_container.sql"] = rowsOf(g, func(g *group) []any {
		return []any{g.plays, 100 * float64(g.plays) / float64(dayPlays[g.key[0].(time.Time)])}
	})

	g = groupBy(nil, func(r map[string]any) []any {
		c := s(r, "country")
		if c == "" {
			c = "unknown"
		}
		return []any{day(r), c}
	})
	order(g, keyAsc(0), desc(plays), keyAsc(1))
	want["plays_by_country.sql"] = rowsOf(g, playsEvents)

	g = groupBy(start, func(r map[string]any) []any { return []any{s(r, "platform")} })
	order(g, desc(plays), keyAsc(0))
	want["playback_decision_by_platform.sql"] = rowsOf(g, func(g *group) []any {
		pct := func(d string) float64 { return 100 * float64(g.decisions[d]) / float64(g.events) }
		return []any{g.events, pct("direct_play"), pct("direct_stream"), pct("transcode")}
	})

	g = groupBy(func(r map[string]any) bool { return s(r, "media_source") == "hosted" }, func(r map[string]any) []any {
		kind, _, _ := strings.Cut(s(r, "catalog_id"), ":")
		return []any{kind, s(r, "catalog_id")}
	})
	order(g, keyAsc(0), desc(plays), keyAsc(1))
	perKind := map[string]int{}
	var top []*group
	for _, x := range g {
		if k := x.key[0].(string); perKind[k] < 10 {
			perKind[k]++
			top = append(top, x)
		}
	}
	want["hosted_plays_by_catalog.sql"] = rowsOf(top, func(g *group) []any { return []any{g.plays, g.events, insts(g)} })

	buckets := []string{"0%", "<10%", "10-25%", "25-50%", "50-75%", "75-90%", ">=90%", "n/a"}
	bucketIdx := func(b string) int {
		for i, x := range buckets {
			if x == b {
				return i + 1
			}
		}
		return 0 // indexOf's answer for a value not listed
	}
	stop := func(r map[string]any) bool { return s(r, "playback_event") == "stop" }
	stopsOf := map[string]uint64{}
	for _, r := range recs {
		if stop(r) {
			stopsOf[s(r, "media_type")]++
		}
	}
	g = groupBy(stop, func(r map[string]any) []any { return []any{s(r, "media_type"), s(r, "played_bucket")} })
	order(g, keyAsc(0), func(a, b *group) int { return bucketIdx(a.key[1].(string)) - bucketIdx(b.key[1].(string)) }, keyAsc(1))
	want["played_share_by_media_type.sql"] = rowsOf(g, func(g *group) []any {
		return []any{g.events, 100 * float64(g.events) / float64(stopsOf[g.key[0].(string)])}
	})

	g = groupBy(nil, func(r map[string]any) []any { return []any{s(r, "app_version")} })
	order(g, desc(insts), keyAsc(0))
	if len(g) > 10 {
		g = g[:10]
	}
	want["top_app_versions.sql"] = rowsOf(g, func(g *group) []any { return []any{insts(g), g.plays, g.events} })

	var last time.Time
	for _, r := range recs {
		if h := hour(r); h.After(last) {
			last = h
		}
	}
	g = groupBy(func(r map[string]any) bool { return hour(r).After(last.Add(-48 * time.Hour)) },
		func(r map[string]any) []any { return []any{hour(r)} })
	order(g, keyAsc(0))
	want["events_per_hour.sql"] = rowsOf(g, func(g *group) []any { return []any{g.events, g.plays, insts(g)} })
	return want
}

// queryCells runs q and returns its rows with unsigned integers as uint64.
func queryCells(t *testing.T, st *chstore.Store, q string) figures {
	t.Helper()
	rows, err := st.Conn().Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	cols := rows.ColumnTypes()
	var out figures
	for rows.Next() {
		vals := make([]any, len(cols))
		for i, c := range cols {
			vals[i] = reflect.New(c.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatal(err)
		}
		row := make([]any, len(cols))
		for i := range vals {
			v := reflect.ValueOf(vals[i]).Elem()
			switch v.Kind() {
			case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				row[i] = v.Uint()
			default:
				row[i] = v.Interface()
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// compareFigures requires the same rows in the same order; a share may differ
// from the exact one by the query's rounding to one decimal.
func compareFigures(t *testing.T, what string, got, want figures) {
	t.Helper()
	bad := 0
	for i := 0; i < len(got) || i < len(want); i++ {
		if i >= len(got) || i >= len(want) {
			t.Errorf("%s: %d rows, want %d", what, len(got), len(want))
			return
		}
		if !sameRow(got[i], want[i]) {
			t.Errorf("%s: row %d is %v, want %v", what, i+1, got[i], want[i])
			if bad++; bad == 5 {
				return
			}
		}
	}
}

func sameRow(got, want []any) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		switch w := want[i].(type) {
		case float64:
			g, ok := got[i].(float64)
			if !ok || math.Abs(g-w) > 0.05+1e-9 {
				return false
			}
		case time.Time:
			g, ok := got[i].(time.Time)
			if !ok || !g.Equal(w) {
				return false
			}
		default:
			if got[i] != w {
				return false
			}
		}
	}
	return true
}
