package chstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

func TestRetentionCutoffKeepsAMonthUntilEveryRowInItIsOlderThanTheRetention(t *testing.T) {
	for _, c := range []struct {
		now    string
		months int
		want   uint32
	}{
		{"2026-11-24T15:00:00Z", 12, 202511},
		{"2026-11-01T00:00:00Z", 12, 202511},
		{"2026-11-30T23:59:59Z", 1, 202610},
		{"2026-01-15T00:00:00Z", 1, 202512},
		{"2026-03-31T12:00:00Z", 1, 202602}, // no day overflow into March
		{"2026-03-31T12:00:00Z", 25, 202402},
		{"2026-03-31T23:30:00-05:00", 1, 202603}, // April 1st in UTC, the server's time zone
	} {
		now, err := time.Parse(time.RFC3339, c.now)
		if err != nil {
			t.Fatal(err)
		}
		if got := chstore.RetentionCutoff(now, c.months); got != c.want {
			t.Errorf("RetentionCutoff(%s, %d) = %d, want %d", c.now, c.months, got, c.want)
		}
	}
}

// freshStore opens a store on a new database of the test ClickHouse, migrated,
// and drops the database when the test ends.
func freshStore(t *testing.T, prefix string) *chstore.Store {
	t.Helper()
	return freshStoreWith(t, prefix, chstore.Options{})
}

// freshStoreWith is freshStore with other options; the server, the
// administrator's account and the database are set.
func freshStoreWith(t *testing.T, prefix string, o chstore.Options) *chstore.Store {
	t.Helper()
	admin := testenv.ClickHouse(t)
	o.Addr, o.User, o.Password, o.Database = admin.Addr, admin.User, admin.Password, testenv.Unique(prefix)
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
	return st
}

// playbackRecord is a clean playback record with every field set: event_hour
// at, the other fields "<field>-<n>" unless set in over.
func playbackRecord(tb *chstore.Table, at time.Time, n int, over map[string]string) map[string]any {
	rec := map[string]any{}
	for _, f := range tb.Schema.Fields {
		rec[f.Name] = fmt.Sprintf("%s-%d", f.Name, n)
	}
	rec["event_hour"] = at
	for k, v := range over {
		rec[k] = v
	}
	return rec
}

func TestDropExpiredRemovesOldMonthsFromTheTableAndItsRollups(t *testing.T) {
	st := freshStore(t, "veil_retention")
	ctx := context.Background()
	tb, ok := st.Table("playback")
	if !ok {
		t.Fatal("no playback table")
	}
	now := time.Now().UTC()
	mid := time.Date(now.Year(), now.Month(), 15, 12, 0, 0, 0, time.UTC) // one month whatever the server's time zone
	ago := func(m int) time.Time { return mid.AddDate(0, -m, 0) }
	// 12 months ago is the oldest month kept (its last rows are not yet a year
	// old); 14 months ago is gone.
	rowsPerMonth := map[uint32]uint64{}
	rows := chstore.NewRows(tb)
	n := 0
	for i, m := range []int{0, 2, 12, 14} {
		for j := 0; j < 3+i; j++ {
			n++
			over := map[string]string{"event_id": fmt.Sprintf("ev-%d", n), "playback_event": "start", "platform": fmt.Sprintf("p%d", j%2)}
			if err := rows.Append(playbackRecord(tb, ago(m).Add(time.Duration(j)*time.Hour), n, over), 0, int64(n)); err != nil {
				t.Fatal(err)
			}
			rowsPerMonth[chstore.Month(ago(m))]++
		}
	}
	if err := st.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	old := chstore.Month(ago(14))

	counts := func() map[string]map[uint32]uint64 {
		t.Helper()
		out := map[string]map[uint32]uint64{}
		for name, q := range map[string]string{
			"playback":            "SELECT toYYYYMM(event_hour) AS m, count() FROM %s.playback GROUP BY m",
			"playback_daily":      "SELECT toYYYYMM(day) AS m, sum(events) FROM %s.playback_daily GROUP BY m",
			"installations_daily": "SELECT toYYYYMM(day) AS m, toUInt64(count()) FROM %s.installations_daily GROUP BY m",
		} {
			r, err := st.Conn().Query(ctx, fmt.Sprintf(q, st.Database()))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[name] = map[uint32]uint64{}
			for r.Next() {
				var m uint32
				var c uint64
				if err := r.Scan(&m, &c); err != nil {
					t.Fatal(err)
				}
				out[name][m] = c
			}
			r.Close()
		}
		return out
	}
	before := counts()
	for m, c := range rowsPerMonth {
		if before["playback"][m] != c || before["playback_daily"][m] != c || before["installations_daily"][m] == 0 {
			t.Fatalf("month %d before retention: table %d, playback_daily %d, installations_daily %d rows; want %d, %d, >0",
				m, before["playback"][m], before["playback_daily"][m], before["installations_daily"][m], c, c)
		}
	}

	// Every table holding rows of the old month: playback and the inner tables
	// of its rollups (.inner.<view> on 18.16, .inner_id.<uuid> in Atomic
	// databases), whatever rollups exist.
	var wantTables []string
	r, err := st.Conn().Query(ctx, "SELECT DISTINCT table FROM system.parts WHERE database = ? AND active AND partition = ? ORDER BY table",
		st.Database(), fmt.Sprint(old))
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var name string
		if err := r.Scan(&name); err != nil {
			t.Fatal(err)
		}
		wantTables = append(wantTables, name)
	}
	r.Close()
	if len(wantTables) < 3 || !slices.Contains(wantTables, "playback") {
		t.Fatalf("system.parts: month %d has parts in %v, want playback and the inner tables of its two rollups at least", old, wantTables)
	}
	check := func(what string, got []chstore.Partition) {
		t.Helper()
		var names []string
		for _, p := range got {
			names = append(names, p.Table)
			if p.Month != old || p.Partition != fmt.Sprint(old) {
				t.Errorf("%s: %s partition %s (month %d), want only month %d", what, p.Table, p.Partition, p.Month, old)
			}
			if p.Rows == 0 {
				t.Errorf("%s: %s partition %s has 0 rows", what, p.Table, p.Partition)
			}
		}
		if strings.Join(names, ",") != strings.Join(wantTables, ",") {
			t.Errorf("%s: tables %v, want %v", what, names, wantTables)
		}
	}

	// A dry run reports the old month of the table and of both rollups, and drops nothing.
	dry, err := st.DropExpired(ctx, 12, now, true)
	if err != nil {
		t.Fatal(err)
	}
	check("dry run", dry)
	if after := counts(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("dry run changed the data:\nbefore %v\nafter  %v", before, after)
	}
	var out bytes.Buffer
	o := testenv.ClickHouse(t)
	o.Database = st.Database()
	if err := chstore.Retain(ctx, o, 12, true, now, &out); err != nil {
		t.Fatal(err)
	}
	n = len(wantTables)
	if got := strings.Count(out.String(), "would drop\t"); got != n || !strings.Contains(out.String(), fmt.Sprintf("would drop %d partitions", n)) {
		t.Errorf("Retain dry run printed %d partition lines, want %d:\n%s", got, n, out.String())
	}
	if after := counts(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("Retain dry run changed the data:\nbefore %v\nafter  %v", before, after)
	}

	dropped, err := st.DropExpired(ctx, 12, now, false)
	if err != nil {
		t.Fatal(err)
	}
	check("drop", dropped)
	after := counts()
	for name, byMonth := range after {
		if c, ok := byMonth[old]; ok {
			t.Errorf("%s still has %d rows of month %d", name, c, old)
		}
		for m := range rowsPerMonth {
			if m != old && byMonth[m] != before[name][m] {
				t.Errorf("%s: month %d has %d, had %d before retention", name, m, byMonth[m], before[name][m])
			}
		}
	}
	var parts uint64
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM system.parts WHERE database = ? AND active AND partition = ?",
		st.Database(), fmt.Sprint(old)).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts != 0 {
		t.Errorf("system.parts still lists %d active parts of partition %d", parts, old)
	}

	again, err := st.DropExpired(ctx, 12, now, false)
	if err != nil || len(again) != 0 {
		t.Errorf("second run: dropped %v, err %v; want nothing", again, err)
	}
	// One month less kept: the 12-month-old month goes too, and still nothing newer.
	dropped, err = st.DropExpired(ctx, 11, now, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != len(wantTables) {
		t.Errorf("retention 11: dropped %+v, want the %d partitions of %d", dropped, len(wantTables), chstore.Month(ago(12)))
	}
	for _, p := range dropped {
		if p.Month != chstore.Month(ago(12)) {
			t.Errorf("retention 11: dropped %s partition %s, want only month %d", p.Table, p.Partition, chstore.Month(ago(12)))
		}
	}
}

func TestRetentionRejectsBadInput(t *testing.T) {
	st := freshStore(t, "veil_retention")
	if _, err := st.DropExpired(context.Background(), 0, time.Now(), false); err == nil {
		t.Error("DropExpired with 0 months: no error")
	}
	var out bytes.Buffer
	o := testenv.ClickHouse(t)
	o.Database = testenv.Unique("veil_missing")
	err := chstore.Retain(context.Background(), o, 12, true, time.Now(), &out)
	if !errors.Is(err, chstore.ErrNoMonthlyTables) {
		t.Errorf("Retain on a database without tables: %v, want ErrNoMonthlyTables", err)
	}
}
