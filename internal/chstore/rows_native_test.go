package chstore

import (
	"fmt"
	"time"
)

// The sink appends flat records only (AppendFlat); the tests build records in
// goavro's native form, which Append takes.

// Append adds one clean record (goavro native form) read from partition/offset. It
// checks every field first, so a bad record leaves the buffer unchanged.
func (r *Rows) Append(rec map[string]any, partition int, offset int64) error {
	var month uint32
	for i, f := range r.t.Schema.Fields {
		switch r.kinds[i] {
		case kindString:
			if _, ok := rec[f.Name].(string); !ok {
				return fmt.Errorf("field %s: want string, got %T", f.Name, rec[f.Name])
			}
		case kindTime:
			ts, ok := rec[f.Name].(time.Time)
			if !ok {
				return fmt.Errorf("field %s: want timestamp, got %T", f.Name, rec[f.Name])
			}
			if f.Name == r.t.TimeCol {
				month = Month(ts)
			}
		}
	}
	for i, f := range r.t.Schema.Fields {
		switch r.kinds[i] {
		case kindString:
			r.strs[i] = append(r.strs[i], rec[f.Name].(string))
		case kindTime:
			r.times[i] = append(r.times[i], rec[f.Name].(time.Time))
		}
	}
	r.parts = append(r.parts, uint32(partition))
	r.offs = append(r.offs, uint64(offset))
	r.months = append(r.months, month)
	return nil
}
