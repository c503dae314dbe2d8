package chstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

// Rows buffers records of one table column by column, ready for a columnar insert.
// It is reused across batches: Reset keeps the allocated slices.
type Rows struct {
	t      *Table
	strs   [][]string    // per column, for String columns
	times  [][]time.Time // per column, for DateTime columns
	kinds  []colKind
	parts  []uint32
	offs   []uint64
	months []uint32
	// insertedAt is the hour a Sharded store sends as inserted_at, kept for
	// every attempt of the same rows until Reset (Sharded.Insert).
	insertedAt time.Time
}

// NewRows returns an empty buffer for t.
func NewRows(t *Table) *Rows {
	r := &Rows{t: t}
	for i := range t.Schema.Fields {
		r.kinds = append(r.kinds, t.Schema.Type(i))
		r.strs = append(r.strs, nil)
		r.times = append(r.times, nil)
	}
	return r
}

// Len is the number of buffered rows.
func (r *Rows) Len() int { return len(r.offs) }

// Reset empties the buffer, keeping its capacity.
func (r *Rows) Reset() {
	for i := range r.kinds {
		clear(r.strs[i]) // the strings may alias the last batch's records: let them go
		r.strs[i] = r.strs[i][:0]
		r.times[i] = r.times[i][:0]
	}
	r.parts, r.offs, r.months = r.parts[:0], r.offs[:0], r.months[:0]
	r.insertedAt = time.Time{}
}

// AppendFlat adds one clean record in the flat form (schemas.Schema.DecodeFlat)
// read from partition/offset. Its strings are kept as they are, not copied: they
// must stay valid until the rows are inserted or Reset. A flat record decoded
// with the table's schema always fits; one of another length is an error.
func (r *Rows) AppendFlat(rec []schemas.Value, partition int, offset int64) error {
	if len(rec) != len(r.kinds) {
		return fmt.Errorf("%d values for the %d fields of %s", len(rec), len(r.kinds), r.t.Name)
	}
	var month uint32
	for i, k := range r.kinds {
		switch k {
		case kindString:
			r.strs[i] = append(r.strs[i], rec[i].S)
		case kindTime:
			ts := rec[i].Time()
			r.times[i] = append(r.times[i], ts)
			if i == r.t.timeAt {
				month = Month(ts)
			}
		}
	}
	r.parts = append(r.parts, uint32(partition))
	r.offs = append(r.offs, uint64(offset))
	r.months = append(r.months, month)
	return nil
}

// Month of row i, for resume filtering.
func (r *Rows) Month(i int) uint32 { return r.months[i] }

// Table the rows are for.
func (r *Rows) Table() *Table { return r.t }

// Insert sends the buffered rows as one columnar INSERT with an explicit column
// list. It returns nil only when the server acknowledged the whole block; on error
// nothing of the block is visible unless the server itself crashed mid-write (see
// the sink package doc). An empty buffer is a no-op.
func (s *Store) Insert(ctx context.Context, r *Rows) error {
	return s.insert(ctx, r, false)
}

// insert sends r as one INSERT; stamped adds inserted_at, r.insertedAt in
// every row, to the columns the server would otherwise fill by DEFAULT.
func (s *Store) insert(ctx context.Context, r *Rows, stamped bool) error {
	if r.Len() == 0 {
		return nil
	}
	q := r.t.insertSQ
	if stamped {
		q = strings.TrimSuffix(q, ")") + ", inserted_at)"
	}
	b, err := s.conn.PrepareBatch(ctx, q)
	if err != nil {
		return fmt.Errorf("chstore: prepare insert into %s: %w", r.t.Name, err)
	}
	defer b.Abort()
	for i := range r.kinds {
		var v any = r.strs[i]
		if r.kinds[i] == kindTime {
			v = r.times[i]
		}
		if err := b.Column(i).Append(v); err != nil {
			return fmt.Errorf("chstore: column %s of %s: %w", r.t.columns[i], r.t.Name, err)
		}
	}
	n := len(r.kinds)
	if err := b.Column(n).Append(r.parts); err != nil {
		return fmt.Errorf("chstore: column kafka_partition: %w", err)
	}
	if err := b.Column(n + 1).Append(r.offs); err != nil {
		return fmt.Errorf("chstore: column kafka_offset: %w", err)
	}
	if stamped {
		at := make([]time.Time, r.Len())
		for i := range at {
			at[i] = r.insertedAt
		}
		if err := b.Column(n + 2).Append(at); err != nil {
			return fmt.Errorf("chstore: column inserted_at: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("chstore: insert %d rows into %s: %w", r.Len(), r.t.Name, err)
	}
	return nil
}

// DropStored removes the rows ClickHouse already holds according to resume (the
// highest stored offset per table, partition and month, from Store.Resume) and returns how
// many it removed. The sink calls it before retrying a failed INSERT: the server
// may have written the block and failed only to answer.
func (r *Rows) DropStored(resume map[ResumeKey]int64) int {
	return r.keepIf(func(i int) bool {
		last, ok := resume[ResumeKey{Table: r.t.Name, Partition: int(r.parts[i]), Month: r.months[i]}]
		return !ok || int64(r.offs[i]) > last
	})
}

// DropRows removes the rows at the given positions, which must ascend, and
// returns how many it removed. The others keep their order.
func (r *Rows) DropRows(rows []int) int {
	if len(rows) == 0 {
		return 0
	}
	next := 0
	return r.keepIf(func(i int) bool {
		if next < len(rows) && rows[next] == i {
			next++
			return false
		}
		return true
	})
}

// keepIf keeps the rows keep is true of, in order, in every column, and
// returns how many it removed. keep is called once per row, in order.
func (r *Rows) keepIf(keep func(i int) bool) int {
	kept := 0
	for i := range r.offs {
		if !keep(i) {
			continue
		}
		for c, k := range r.kinds {
			switch k {
			case kindString:
				r.strs[c][kept] = r.strs[c][i]
			case kindTime:
				r.times[c][kept] = r.times[c][i]
			}
		}
		r.parts[kept], r.offs[kept], r.months[kept] = r.parts[i], r.offs[i], r.months[i]
		kept++
	}
	dropped := len(r.offs) - kept
	r.truncate(kept)
	return dropped
}

// DropLast removes the last appended row.
func (r *Rows) DropLast() {
	if n := r.Len(); n > 0 {
		r.truncate(n - 1)
	}
}

// truncate keeps the first n rows in every column.
func (r *Rows) truncate(n int) {
	for i, k := range r.kinds {
		switch k {
		case kindString:
			r.strs[i] = r.strs[i][:n]
		case kindTime:
			r.times[i] = r.times[i][:n]
		}
	}
	r.parts, r.offs, r.months = r.parts[:n], r.offs[:n], r.months[:n]
}
