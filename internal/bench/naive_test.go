package bench

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/veiltelemetry/veil/schemas"
)

func TestZeroValueOfEachAvroType(t *testing.T) {
	tests := []struct {
		typ  string
		want any
	}{
		{`"string"`, ""},
		{`"long"`, int64(0)},
		{`"int"`, int32(0)},
		{`"boolean"`, false},
		{`"double"`, float64(0)},
		{`"bytes"`, []byte{}},
		{`{"type": "long", "logicalType": "timestamp-millis"}`, time.Unix(0, 0).UTC()},
		{`{"type": "enum", "name": "E", "symbols": ["tv", "mobile"]}`, "tv"},
		{`["null", "string"]`, nil},
		{`["string", "long"]`, goavro.Union("string", "")},
		{`{"type": "array", "items": "string"}`, []any{}},
		{`{"type": "string"}`, ""},
	}
	for _, tt := range tests {
		got, err := zeroValue(json.RawMessage(tt.typ))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("zeroValue(%s) = %#v, %v; want %#v", tt.typ, got, err, tt.want)
		}
	}
	for _, bad := range []string{`"Unknown.Named"`, `{"type": "record", "name": "R", "fields": []}`, `[]`, `{"type": "enum", "symbols": []}`} {
		if got, err := zeroValue(json.RawMessage(bad)); err == nil {
			t.Errorf("zeroValue(%s) = %#v, want an error", bad, got)
		}
	}
	// Every zero value is one goavro encodes for its type.
	for _, tt := range tests {
		schema := `{"type": "record", "name": "R", "fields": [{"name": "f", "type": ` + tt.typ + `}]}`
		codec, err := goavro.NewCodec(schema)
		if err != nil {
			t.Fatalf("%s: %v", tt.typ, err)
		}
		if _, err := codec.BinaryFromNative(nil, map[string]any{"f": tt.want}); err != nil {
			t.Errorf("goavro cannot encode the zero of %s: %v", tt.typ, err)
		}
	}
}

func TestNaiveCopiesTheCleanFieldsAndZeroesTheRest(t *testing.T) {
	reg := schemas.MustLoad()
	msgs, _, err := sampleRecords(reg, 200)
	if err != nil {
		t.Fatal(err)
	}
	nv, err := newNaive(reg)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, m := range msgs {
		rawSchema, raw, err := reg.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		out, err := nv.convert(nil, m.Value)
		if err != nil {
			t.Fatalf("%s: %v", rawSchema.Kind, err)
		}
		s, clean, err := reg.Decode(out)
		if err != nil {
			t.Fatalf("the naive output does not decode: %v", err)
		}
		kinds[s.Kind] = true
		if s.Stage != schemas.Clean || s.Kind != rawSchema.Kind {
			t.Fatalf("a %s %s record became %s %s", rawSchema.Stage, rawSchema.Kind, s.Stage, s.Kind)
		}
		if clean["event_id"] != raw["event_id"] {
			t.Errorf("event_id %v, want the raw %v copied", clean["event_id"], raw["event_id"])
		}
		if v, ok := raw["app_version"]; ok && clean["app_version"] != v {
			t.Errorf("app_version %v, want the raw %v", clean["app_version"], v)
		}
		if got := clean["event_hour"].(time.Time); !got.Equal(time.Unix(0, 0)) {
			t.Errorf("event_hour = %v; the raw record has no such field, want the zero time", got)
		}
		if clean["country"] != "" {
			t.Errorf("country = %q, want empty (not in the raw record)", clean["country"])
		}
	}
	if len(kinds) < 4 {
		t.Errorf("200 simulated events covered only kinds %v", kinds)
	}
	if _, err := nv.convert(nil, []byte("not avro")); err == nil {
		t.Error("convert of a non-Avro value: want an error")
	}
}
