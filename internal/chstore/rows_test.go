package chstore

import (
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

// cleanMessages returns n encoded clean records of kind with varied strings and
// times over several months.
func cleanMessages(tb testing.TB, clean *schemas.Schema, n int) [][]byte {
	tb.Helper()
	out := make([][]byte, n)
	for j := range out {
		rec := map[string]any{}
		for i, f := range clean.Fields {
			switch clean.Type(i) {
			case schemas.TString:
				rec[f.Name] = f.Name + "-" + strconv.Itoa(j%97)
			case schemas.TTimestamp:
				rec[f.Name] = time.UnixMilli(1780000000000 + int64(j)*3_600_000*17).UTC().Truncate(time.Hour)
			}
		}
		msg, err := clean.Encode(nil, rec)
		if err != nil {
			tb.Fatal(err)
		}
		out[j] = msg
	}
	return out
}

// AppendFlat buffers exactly what Append buffers for the goavro form of the same
// record, months included.
func TestAppendFlatBuffersWhatAppendDoes(t *testing.T) {
	reg := schemas.MustLoad()
	for _, kind := range reg.Kinds() {
		clean := reg.Latest(schemas.Clean, kind)
		tb, err := newTable("db", clean)
		if err != nil {
			t.Fatal(err)
		}
		a, b := NewRows(tb), NewRows(tb)
		for i, msg := range cleanMessages(t, clean, 50) {
			_, rec, err := reg.Decode(msg)
			if err != nil {
				t.Fatal(err)
			}
			flat, err := clean.DecodeFlat(msg[10:], nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Append(rec, 2, int64(i)); err != nil {
				t.Fatal(err)
			}
			if err := b.AppendFlat(flat, 2, int64(i)); err != nil {
				t.Fatal(err)
			}
		}
		if !reflect.DeepEqual(a.strs, b.strs) || !reflect.DeepEqual(a.times, b.times) || !reflect.DeepEqual(a.months, b.months) ||
			!reflect.DeepEqual(a.offs, b.offs) || !reflect.DeepEqual(a.parts, b.parts) {
			t.Errorf("%s: AppendFlat buffered other rows than Append", kind)
		}
		if len(b.months) != 50 || b.months[0] == b.months[49] {
			t.Errorf("%s: months %v, want 50 spread over several months", kind, b.months)
		}
		if err := b.AppendFlat(make([]schemas.Value, 2), 0, 0); err == nil {
			t.Errorf("%s: AppendFlat took a record of the wrong length", kind)
		}
	}
}

// DropStored keeps exactly the rows above the stored offset of their month, in
// order, in every column.
func TestDropStoredRemovesWhatClickHouseHas(t *testing.T) {
	reg := schemas.MustLoad()
	clean := reg.Latest(schemas.Clean, "crash")
	tb, err := newTable("db", clean)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRows(tb)
	msgs := cleanMessages(t, clean, 60) // offsets 100..159, several months
	for i, msg := range msgs {
		flat, err := clean.DecodeFlat(msg[10:], nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AppendFlat(flat, 1, int64(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	first, second := r.months[0], r.months[59]
	if first == second {
		t.Fatal("the sample spans one month")
	}
	// The server stored the first month up to offset 110 and nothing of the last.
	// Partition 2 and another table have more, which must not matter.
	resume := map[ResumeKey]int64{
		{Table: tb.Name, Partition: 1, Month: first}:     110,
		{Table: tb.Name, Partition: 2, Month: second}:    1000,
		{Table: "db.other", Partition: 1, Month: second}: 1000,
	}
	want := []uint64{}
	for i, m := range r.months {
		if m != first || r.offs[i] > 110 {
			want = append(want, r.offs[i])
		}
	}
	idCol := clean.Index("event_id")
	wantIDs := []string{}
	for i := range r.offs {
		if r.months[i] != first || r.offs[i] > 110 {
			wantIDs = append(wantIDs, r.strs[idCol][i])
		}
	}
	if n := r.DropStored(resume); n != 60-len(want) || n == 0 {
		t.Errorf("DropStored removed %d rows, want %d", n, 60-len(want))
	}
	if !reflect.DeepEqual(r.offs, want) || !reflect.DeepEqual(r.strs[idCol], wantIDs) || r.Len() != len(r.months) || r.Len() != len(r.times[clean.Index("event_hour")]) {
		t.Errorf("after DropStored: offsets %v ids %v, want %v %v", r.offs, r.strs[idCol], want, wantIDs)
	}
}

// BenchmarkSinkBatch is the sink's work per record between Kafka and the INSERT:
// find the schema, decode the clean record, append it to the columnar buffer.
// BenchmarkSinkBatchGoavro is the same with goavro maps, the way it was done
// before the flat codec; compare the two from one run.
func BenchmarkSinkBatch(b *testing.B) { benchSinkBatch(b, true) }

func BenchmarkSinkBatchGoavro(b *testing.B) { benchSinkBatch(b, false) }

func benchSinkBatch(b *testing.B, flat bool) {
	reg := schemas.MustLoad()
	clean := reg.Latest(schemas.Clean, "playback")
	tb, err := newTable("db", clean)
	if err != nil {
		b.Fatal(err)
	}
	msgs := cleanMessages(b, clean, 10000)
	rows := NewRows(tb)
	var rec []schemas.Value
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%len(msgs) == 0 {
			rows.Reset()
		}
		msg := msgs[i%len(msgs)]
		s, err := reg.Writer(msg)
		if err != nil {
			b.Fatal(err)
		}
		if flat {
			if rec, err = s.DecodeFlat(msg[10:], rec); err == nil {
				err = rows.AppendFlat(rec, 0, int64(i))
			}
		} else {
			var m map[string]any
			if m, err = s.DecodeBody(msg[10:]); err == nil {
				err = rows.Append(m, 0, int64(i))
			}
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// DropRows removes exactly the rows named, in every column, and keeps the
// others in order.
func TestDropRowsRemovesThePositionsGiven(t *testing.T) {
	reg := schemas.MustLoad()
	clean := reg.Latest(schemas.Clean, "crash")
	tb, err := newTable("db", clean)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRows(tb)
	for i, msg := range cleanMessages(t, clean, 10) {
		flat, err := clean.DecodeFlat(msg[10:], nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AppendFlat(flat, 1, int64(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	idCol := clean.Index("event_id")
	ids := append([]string(nil), r.strs[idCol]...)
	if n := r.DropRows(nil); n != 0 || r.Len() != 10 {
		t.Fatalf("DropRows(nil) removed %d rows, %d left", n, r.Len())
	}
	if n := r.DropRows([]int{0, 3, 4, 9}); n != 4 {
		t.Errorf("DropRows removed %d rows, want 4", n)
	}
	wantOffs := []uint64{101, 102, 105, 106, 107, 108}
	wantIDs := []string{ids[1], ids[2], ids[5], ids[6], ids[7], ids[8]}
	if !reflect.DeepEqual(r.offs, wantOffs) || !reflect.DeepEqual(r.strs[idCol], wantIDs) || r.Len() != len(r.months) || r.Len() != len(r.times[clean.Index("event_hour")]) {
		t.Errorf("after DropRows: offsets %v ids %v, want %v %v", r.offs, r.strs[idCol], wantOffs, wantIDs)
	}
}
