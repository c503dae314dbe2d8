package naive

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
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
		got, err := Zero(json.RawMessage(tt.typ))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Zero(%s) = %#v, %v; want %#v", tt.typ, got, err, tt.want)
		}
	}
	for _, bad := range []string{`"Unknown.Named"`, `{"type": "record", "name": "R", "fields": []}`, `[]`, `{"type": "enum", "symbols": []}`} {
		if got, err := Zero(json.RawMessage(bad)); err == nil {
			t.Errorf("Zero(%s) = %#v, want an error", bad, got)
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
