package chstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/schemas"
)

// The events' INSERTs leave event_ids alone (migration 0006 dropped the views
// that wrote it); InsertIDs stores the ids of every kind with the partition,
// the offset and the hour of the insert, and StoredIDs reads them back by
// partition above an offset.
func TestInsertIDsRecordsTheIDsForTheSink(t *testing.T) {
	st := freshStore(t, "veil_ids")
	ctx := context.Background()
	reg := schemas.MustLoad()
	var want []string
	var ids chstore.IDs
	off := int64(0)
	for _, kind := range reg.Kinds() {
		tb, ok := st.Table(kind)
		if !ok {
			t.Fatalf("no table for %s", kind)
		}
		rows := chstore.NewRows(tb)
		for i := range 3 {
			off++
			rec := playbackRecord(tb, time.Now().UTC().Truncate(time.Hour), int(off), map[string]string{"event_id": fmt.Sprintf("%s-%d", kind, i)})
			for _, f := range tb.Schema.Fields {
				if f.Name != "event_id" && tb.Schema.Type(tb.Schema.Index(f.Name)) == schemas.TTimestamp {
					rec[f.Name] = time.Now().UTC().Truncate(time.Hour)
				}
			}
			if err := rows.Append(rec, 1+i%2, off); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			ids.Add(1+i%2, off, fmt.Sprintf("%s-%d", kind, i))
			if i%2 == 1 {
				want = append(want, fmt.Sprintf("%s-%d@%d", kind, i, off))
			}
		}
		if err := st.Insert(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	var viewed uint64
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM "+st.Database()+".event_ids").Scan(&viewed); err != nil || viewed != 0 {
		t.Fatalf("event_ids holds %d rows (%v) after the events' INSERTs alone, want 0: a view still writes it", viewed, err)
	}
	before := time.Now().UTC().Truncate(time.Hour)
	if err := st.InsertIDs(ctx, &ids); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := st.StoredIDs(ctx, 2, -1, time.Now().Add(-time.Hour), func(id chstore.StoredID) error {
		got = append(got, fmt.Sprintf("%s@%d", id.EventID, id.Offset))
		if !id.InsertedHour.Equal(id.InsertedHour.Truncate(time.Hour)) || id.InsertedHour.Before(before.Add(-time.Hour)) || id.InsertedHour.After(time.Now()) {
			t.Errorf("%s: inserted_hour %s, want the hour of the insert", id.EventID, id.InsertedHour)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("stored ids of partition 2: %v, want %v (one row per kind)", got, want)
	}
	// Above an offset: the last kind's partition-2 row is at off-1, the one
	// before it three offsets lower.
	got = nil
	last := off - 1
	err = st.StoredIDs(ctx, 2, last-1, time.Now().Add(-time.Hour), func(id chstore.StoredID) error {
		got = append(got, fmt.Sprintf("%s@%d", id.EventID, id.Offset))
		return nil
	})
	if wantLast := fmt.Sprintf("%s-1@%d", reg.Kinds()[len(reg.Kinds())-1], last); err != nil || !slices.Equal(got, []string{wantLast}) {
		t.Errorf("stored ids of partition 2 above %d: %v, %v; want [%s]", last-1, got, err, wantLast)
	}
	n := 0
	if err := st.StoredIDs(ctx, 2, -1, time.Now().Add(2*time.Hour), func(chstore.StoredID) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("ids inserted since two hours from now: %d (%v), want none", n, err)
	}
	for o, want := range map[int64]bool{last: true, last + 1: false, off: false} {
		if has, err := st.HasStoredID(ctx, 2, o); err != nil || has != want {
			t.Errorf("HasStoredID(2, %d) = %v, %v; want %v", o, has, err, want)
		}
	}
}

func TestDropStoredIDsBeforeDropsWholeDaysOnly(t *testing.T) {
	st := freshStore(t, "veil_ids_drop")
	ctx := context.Background()
	tb, _ := st.Table("crash")
	rows := chstore.NewRows(tb)
	rec := playbackRecord(tb, time.Now().UTC().Truncate(time.Hour), 1, nil)
	if err := rows.Append(rec, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	var ids chstore.IDs
	ids.Add(0, 1, "crash-1")
	if err := st.InsertIDs(ctx, &ids); err != nil {
		t.Fatal(err)
	}
	count := func() uint64 {
		var n uint64
		if err := st.Conn().QueryRow(ctx, "SELECT count() FROM "+st.Database()+".event_ids").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 1 {
		t.Fatalf("event_ids holds %d rows, want 1", n)
	}
	// A cutoff within today or tomorrow keeps today.
	for _, cutoff := range []time.Time{time.Now(), time.Now().Add(24 * time.Hour)} {
		if days, err := st.DropStoredIDsBefore(ctx, cutoff); err != nil || len(days) != 0 {
			t.Errorf("DropStoredIDsBefore(%s) dropped %v (%v), want nothing", cutoff, days, err)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("event_ids holds %d rows after dropping nothing, want 1", n)
	}
	days, err := st.DropStoredIDsBefore(ctx, time.Now().Add(72*time.Hour))
	if err != nil || len(days) != 1 {
		t.Fatalf("DropStoredIDsBefore(in 3 days) dropped %v (%v), want today", days, err)
	}
	if n := count(); n != 0 {
		t.Errorf("event_ids holds %d rows after its only day was dropped", n)
	}
	// The event table keeps its rows: only the ids go.
	var n uint64
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM "+st.Database()+".crash").Scan(&n); err != nil || n != 1 {
		t.Errorf("crash holds %d rows (%v) after event_ids was dropped, want 1", n, err)
	}
}
