package chstore

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// insertStamped sends r as one INSERT like Insert, with r.insertedAt as every
// row's inserted_at instead of the server's DEFAULT: the same rows make the
// same block at every attempt, which a replicated table stores once.
func (s *Store) insertStamped(ctx context.Context, r *Rows) error {
	if r.Len() == 0 {
		return nil
	}
	q := strings.TrimSuffix(r.t.insertSQ, ")") + ", inserted_at)"
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
	at := make([]time.Time, r.Len())
	for i := range at {
		at[i] = r.insertedAt
	}
	if err := b.Column(n + 2).Append(at); err != nil {
		return fmt.Errorf("chstore: column inserted_at: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("chstore: insert %d rows into %s: %w", r.Len(), r.t.Name, err)
	}
	return nil
}

// subset returns a new Rows of the rows keep is true of, in order, with r's
// inserted_at. Strings are shared, not copied.
func (r *Rows) subset(keep func(i int) bool) *Rows {
	out := NewRows(r.t)
	out.insertedAt = r.insertedAt
	for i := range r.offs {
		if !keep(i) {
			continue
		}
		for c, k := range r.kinds {
			switch k {
			case kindString:
				out.strs[c] = append(out.strs[c], r.strs[c][i])
			case kindTime:
				out.times[c] = append(out.times[c], r.times[c][i])
			}
		}
		out.parts = append(out.parts, r.parts[i])
		out.offs = append(out.offs, r.offs[i])
		out.months = append(out.months, r.months[i])
	}
	return out
}
