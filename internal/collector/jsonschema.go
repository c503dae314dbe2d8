package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/veiltelemetry/veil/schemas"
)

// jsonSchema converts the JSON form of one raw schema's events into goavro's native
// form. Values follow Avro's JSON encoding for the types the schemas package
// knows (Schema.Type): string, boolean, int, long, enum (the symbol as a string)
// and timestamp-millis (epoch milliseconds as an integer). The schemas package
// refuses any other type when it loads a schema, so a new schema that uses one
// fails loudly instead of being half-supported.
type jsonSchema struct {
	schema *schemas.Schema
	fields []jsonField
	byName map[string]int
}

type jsonField struct {
	name       string
	typ        schemas.FieldType
	symbols    []string
	hasDefault bool
	def        any // native default value
}

// newJSONSchema takes the field types and defaults from the schema.
func newJSONSchema(s *schemas.Schema) (*jsonSchema, error) {
	js := &jsonSchema{schema: s, byName: map[string]int{}}
	for i, f := range s.Fields {
		jf := jsonField{name: f.Name, typ: s.Type(i), symbols: s.Symbols(i)}
		if len(f.Default) > 0 {
			v, err := jf.convert(f.Default)
			if err != nil {
				return nil, fmt.Errorf("collector: schema %s field %s: default: %w", s.File, f.Name, err)
			}
			jf.hasDefault, jf.def = true, v
		}
		js.byName[f.Name] = len(js.fields)
		js.fields = append(js.fields, jf)
	}
	return js, nil
}

// decode converts the members of one event object (already known to be valid
// UTF-8) into a native record. A member named twice counts once, with its last
// value, as in encoding/json. Missing fields take their default; event_id and
// client_ip may be missing (the collector fills them in). The error names the
// field.
func (js *jsonSchema) decode(ms []member) (map[string]any, error) {
	rec := make(map[string]any, len(js.fields))
	for _, m := range ms {
		var i int
		var ok bool
		if m.hasEscape() {
			name := m.name()
			if name == "kind" {
				continue
			}
			i, ok = js.byName[name]
		} else {
			if string(m.key) == "kind" {
				continue
			}
			i, ok = js.byName[string(m.key)]
		}
		if !ok {
			return nil, fmt.Errorf("unknown field %q for %s", truncate(m.name(), 64), js.schema.Name)
		}
		f := &js.fields[i]
		v, err := f.convert(m.val)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.name, err)
		}
		rec[f.name] = v
	}
	var missing []string
	for _, f := range js.fields {
		if _, ok := rec[f.name]; ok {
			continue
		}
		switch {
		case f.hasDefault:
			rec[f.name] = f.def
		case f.name == "event_id" || f.name == "client_ip":
			rec[f.name] = "" // filled in by the collector
		default:
			missing = append(missing, f.name)
		}
	}
	switch len(missing) {
	case 0:
		return rec, nil
	case 1:
		return nil, fmt.Errorf("missing required field %s", missing[0])
	}
	return nil, fmt.Errorf("missing required fields %s", strings.Join(missing, ", "))
}

func (f *jsonField) convert(raw []byte) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, fmt.Errorf("empty value")
	}
	switch f.typ {
	case schemas.TString, schemas.TEnum:
		s, err := jsonString(raw)
		if err != nil {
			return nil, fmt.Errorf("want %s, got %s", typeName(f.typ), describe(raw))
		}
		if f.typ == schemas.TEnum && !slices.Contains(f.symbols, s) {
			return nil, fmt.Errorf("%q is not one of %s", truncate(s, 64), strings.Join(f.symbols, ", "))
		}
		return s, nil
	case schemas.TBoolean:
		switch string(raw) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("want boolean, got %s", describe(raw))
	case schemas.TInt, schemas.TLong, schemas.TTimestamp:
		if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
			return nil, fmt.Errorf("want %s, got %s", typeName(f.typ), describe(raw))
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return nil, fmt.Errorf("%s is out of range for %s", truncate(string(raw), 32), typeName(f.typ))
			}
			return nil, fmt.Errorf("want an integer (%s), got %s", typeName(f.typ), truncate(string(raw), 32))
		}
		switch f.typ {
		case schemas.TInt:
			if n < math.MinInt32 || n > math.MaxInt32 {
				return nil, fmt.Errorf("%d is out of range for int", n)
			}
			return int32(n), nil
		case schemas.TTimestamp:
			return time.UnixMilli(n).UTC(), nil
		}
		return n, nil
	}
	return nil, fmt.Errorf("unsupported type %s", f.typ)
}

// typeName names a type in an error message the way a client reads it.
func typeName(t schemas.FieldType) string {
	if t == schemas.TTimestamp {
		return "timestamp-millis (epoch milliseconds)"
	}
	return t.String()
}

// jsonString decodes a JSON string; the fast path avoids encoding/json for strings
// without escapes.
func jsonString(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", fmt.Errorf("not a string")
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && bytes.IndexByte(inner, '"') < 0 {
		return string(inner), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// describe names the JSON type of a value for an error message.
func describe(raw []byte) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
