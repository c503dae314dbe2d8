package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// settle drops the finished phases' databases, once each, unless --keep.
func TestSettleDropsTheFinishedPhasesDatabasesUnlessKept(t *testing.T) {
	ctx := context.Background()
	ch, err := openClickHouse(ctx, testenv.ClickHouse(t), schemas.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	exists := func(db string) bool {
		t.Helper()
		var n uint64
		if err := ch.conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = ?", db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	for _, keep := range []bool{false, true} {
		r := &run{cfg: Config{Keep: keep}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), ch: ch}
		db := r.database(testenv.Unique("veil_settle"))
		t.Cleanup(func() { _ = ch.dropDatabase(context.Background(), db) })
		if err := ch.conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
		r.settle(ctx)
		if exists(db) == !keep {
			t.Errorf("keep=%v: after settle database %s exists=%v", keep, db, exists(db))
		}
		if want := map[bool]int{false: 1, true: 0}[keep]; r.dropped != want {
			t.Errorf("keep=%v: %d databases marked dropped, want %d", keep, r.dropped, want)
		}
	}
}

// The write counters move with what the server does: inserting two parts of n
// rows counts at least 2n inserted and written rows, and merging them counts
// at least 2n merged rows. (Other packages' tests may write at the same time,
// so the figures are lower bounds.)
func TestServerEventsCountInsertsAndMerges(t *testing.T) {
	ctx := context.Background()
	ch, err := openClickHouse(ctx, testenv.ClickHouse(t), schemas.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	db := testenv.Unique("veil_events")
	t.Cleanup(func() { _ = ch.dropDatabase(context.Background(), db) })
	for _, q := range []string{
		"CREATE DATABASE " + db,
		"CREATE TABLE " + db + ".t (n UInt64) ENGINE = MergeTree ORDER BY n",
	} {
		if err := ch.conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	const n = 10000
	before, err := ch.serverEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := ch.conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s.t SELECT number FROM system.numbers LIMIT %d", db, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.conn.Exec(ctx, "OPTIMIZE TABLE "+db+".t FINAL"); err != nil {
		t.Fatal(err)
	}
	after, err := ch.serverEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := after.work(before)
	if w.InsertedRows < 2*n || w.WrittenRows < 2*n || w.MergedRows < 2*n {
		t.Errorf("after inserting 2×%d rows and merging them: %+v", n, *w)
	}
	if w.MergesPerRow() <= 0 {
		t.Errorf("merges per row %.2f, want > 0", w.MergesPerRow())
	}
}

// A server restarted between two readings starts its counters again from 0:
// the difference is then 0, not a wrapped-around huge number.
func TestServerEventsWorkAfterRestart(t *testing.T) {
	w := serverEvents{inserted: 5, written: 5, merged: 2, mergeMs: 1500}.work(serverEvents{inserted: 100, written: 3, merged: 50, mergeMs: 500})
	want := ClickHouseWork{InsertedRows: 0, WrittenRows: 2, MergedRows: 0, MergeSeconds: 1}
	if *w != want {
		t.Errorf("work = %+v, want %+v", *w, want)
	}
	if (&ClickHouseWork{}).MergesPerRow() != 0 {
		t.Error("merges per row of nothing written is not 0")
	}
}

func TestZeroLossAllowsOnlyMarkersWhoseWritesFailed(t *testing.T) {
	for _, c := range []struct {
		name                   string
		failed                 int64
		unseen, uncertain      int
		want, landed, distinct uint64
		ok                     bool
	}{
		{"exact", 0, 0, 0, 1000, 1000, 1000, true},
		{"a failed marker landed", 0, 0, 1, 1000, 1001, 1001, true},
		{"a failed marker did not land", 0, 0, 1, 1000, 1000, 1000, true},
		{"one more than the failed markers", 0, 0, 1, 1000, 1002, 1002, false},
		{"one lost", 0, 0, 1, 1000, 999, 999, false},
		{"a duplicate", 0, 0, 1, 1000, 1001, 1000, false},
		{"an acknowledged marker unseen", 0, 1, 0, 1000, 1000, 1000, false},
		{"events failed", 3, 0, 0, 1000, 1000, 1000, false},
	} {
		if got := zeroLoss(c.failed, c.unseen, c.uncertain, c.want, c.landed, c.distinct); got != c.ok {
			t.Errorf("%s: zeroLoss = %v, want %v", c.name, got, c.ok)
		}
	}
}
