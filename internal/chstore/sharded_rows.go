package chstore

import "context"

// insertStamped sends r as one INSERT like Insert, with r.insertedAt as every
// row's inserted_at instead of the server's DEFAULT: the same rows make the
// same block at every attempt, which a replicated table stores once.
func (s *Store) insertStamped(ctx context.Context, r *Rows) error {
	return s.insert(ctx, r, true)
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
