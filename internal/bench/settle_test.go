package bench

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// settle drops the finished phases' databases, once each, unless --keep.
func TestSettleDropsTheFinishedPhasesDatabasesUnlessKept(t *testing.T) {
	ctx := context.Background()
	ch, err := openClickHouse(ctx, testenv.ClickHouse(t), "lz4", schemas.MustLoad())
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
