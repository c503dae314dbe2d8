package chstore_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/schemas"
)

// columnTypes are the ClickHouse types a clean field's column may have, by the
// field's Avro type: the mapping chstore's tables and the migrations share. A
// type missing here has no column mapping.
var columnTypes = map[schemas.FieldType][]string{
	schemas.TString:    {"String", "LowCardinality(String)"},
	schemas.TTimestamp: {"DateTime"},
}

// The sink's own columns, in every event table besides the clean fields.
var sinkColumns = map[string]string{"kafka_partition": "UInt32", "kafka_offset": "UInt64", "inserted_at": "DateTime"}

// Every field of every clean schema has its column, of the type its Avro type
// maps to, in the table the migrations create for its kind, on a real
// ClickHouse; and the table has no column that is neither a clean field nor
// one of the sink's. A clean field added without a migration fails here.
func TestEveryCleanFieldHasItsColumnInTheMigratedTables(t *testing.T) {
	st := freshStore(t, "veil_columns")
	reg := schemas.MustLoad()
	for _, kind := range reg.Kinds() {
		clean := reg.Latest(schemas.Clean, kind)
		if clean == nil {
			continue
		}
		tb, ok := st.Table(kind)
		if !ok {
			t.Errorf("clean schema %s has no table", clean.Name)
			continue
		}
		cols := columnsOf(t, st, tb.Name)
		if len(cols) == 0 {
			t.Errorf("%s: no table %s after the migrations: add a migration creating it", clean.Name, tb.Name)
			continue
		}
		fields := map[string]bool{}
		for i, f := range clean.Fields {
			fields[f.Name] = true
			want, mapped := columnTypes[clean.Type(i)]
			got, ok := cols[f.Name]
			switch {
			case !mapped:
				t.Errorf("%s.%s: its type %s has no ClickHouse column type", clean.Name, f.Name, f.Type)
			case !ok:
				t.Errorf("%s.%s has no column in %s: add a migration (ALTER TABLE ... ADD COLUMN %s %s)", clean.Name, f.Name, tb.Name, f.Name, want[0])
			case !slices.Contains(want, got):
				t.Errorf("%s.%s: column %s.%s is %s, want one of %v", clean.Name, f.Name, tb.Name, f.Name, got, want)
			}
		}
		for name, typ := range sinkColumns {
			if got := cols[name]; got != typ {
				t.Errorf("%s.%s is %q, want %s", tb.Name, name, got, typ)
			}
		}
		for name := range cols {
			if _, sinks := sinkColumns[name]; !fields[name] && !sinks {
				t.Errorf("%s.%s is no field of %s: drop it in a migration, or add the field", tb.Name, name, clean.Name)
			}
		}
	}
}

// columnsOf returns the columns of db.table and their types, as the server
// reports them (nothing when there is no such table).
func columnsOf(t *testing.T, st *chstore.Store, table string) map[string]string {
	t.Helper()
	db, name, _ := strings.Cut(table, ".")
	rows, err := st.Conn().Query(context.Background(), "SELECT name, type FROM system.columns WHERE database = ? AND table = ?", db, name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, typ string
		if err := rows.Scan(&n, &typ); err != nil {
			t.Fatal(err)
		}
		out[n] = typ
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
