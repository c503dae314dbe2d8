package schemas

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// The flat codec is the hot path of the enricher and the sink. It decodes a
// record's Avro binary body straight into a slice of Values in field order and
// encodes one back, without the map[string]any, interface boxing and per-field
// allocations of goavro's native form. It covers exactly the types the schemas
// use (string, int, long, boolean, enum, timestamp-millis); compileFlat refuses
// any other, so a schema the codec cannot handle fails at load, not at run time.
// goavro stays the reference: the tests check that both read and write the same
// bytes, and Decode/Encode keep using it for everything off the hot path.

// FieldType is the Avro type of a field, as the flat codec knows it.
type FieldType uint8

const (
	TString FieldType = iota + 1
	TInt
	TLong
	TBoolean
	TEnum
	TTimestamp // long, logicalType timestamp-millis
)

// Value is one field of a flat record. N holds ints, longs, booleans (0 or 1),
// enum indexes and timestamps (milliseconds since the epoch); S holds strings.
//
// A decoded S aliases the bytes it was decoded from: it is valid only as long as
// they are, and must be cloned (strings.Clone) to be kept longer.
type Value struct {
	N int64
	S string
}

// Time returns a timestamp field's value.
func (v Value) Time() time.Time { return time.UnixMilli(v.N).UTC() }

// flatField is what the codec knows of a field.
type flatField struct {
	typ     FieldType
	symbols []string
}

// Type returns the flat type of field i.
func (s *Schema) Type(i int) FieldType { return s.flat[i].typ }

// Symbols returns the symbols of enum field i (nil for other types).
func (s *Schema) Symbols(i int) []string { return s.flat[i].symbols }

// EventID returns the event id of a flat record of s ("" if s has none).
func (s *Schema) EventID(rec []Value) string { return s.str(rec, 0) }

// InstallationID returns the installation id of a flat record of s ("" if s has
// none).
func (s *Schema) InstallationID(rec []Value) string { return s.str(rec, 1) }

func (s *Schema) str(rec []Value, j int) string {
	if i := s.idAt[j]; i >= 0 && s.flat[i].typ == TString {
		return rec[i].S
	}
	return ""
}

// Index returns the position of the named field, or -1.
func (s *Schema) Index(name string) int {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return i
		}
	}
	return -1
}

func compileFlat(fields []Field) ([]flatField, error) {
	out := make([]flatField, len(fields))
	for i, f := range fields {
		var name string
		if json.Unmarshal(f.Type, &name) == nil {
			switch name {
			case "string":
				out[i].typ = TString
			case "int":
				out[i].typ = TInt
			case "long":
				out[i].typ = TLong
			case "boolean":
				out[i].typ = TBoolean
			default:
				return nil, fmt.Errorf("field %q: type %q is not supported by the flat codec", f.Name, name)
			}
			continue
		}
		var obj struct {
			Type        string   `json:"type"`
			LogicalType string   `json:"logicalType"`
			Symbols     []string `json:"symbols"`
		}
		if err := json.Unmarshal(f.Type, &obj); err != nil {
			return nil, fmt.Errorf("field %q: type %s is not supported by the flat codec", f.Name, f.Type)
		}
		switch {
		case obj.Type == "enum" && len(obj.Symbols) > 0:
			out[i] = flatField{typ: TEnum, symbols: obj.Symbols}
		case obj.Type == "long" && obj.LogicalType == "timestamp-millis":
			out[i].typ = TTimestamp
		default:
			return nil, fmt.Errorf("field %q: type %s is not supported by the flat codec", f.Name, f.Type)
		}
	}
	return out, nil
}

// DecodeFlat decodes an Avro binary body (no single-object header) written with s
// into dst, which it grows to len(s.Fields) and returns. Errors wrap ErrMalformed.
// It never panics, whatever body holds.
func (s *Schema) DecodeFlat(body []byte, dst []Value) ([]Value, error) {
	if cap(dst) < len(s.flat) {
		dst = make([]Value, len(s.flat))
	}
	dst = dst[:len(s.flat)]
	pos := 0
	for i := range s.flat {
		f := &s.flat[i]
		if f.typ == TBoolean {
			// A boolean is one byte, 0 or 1.
			if pos >= len(body) || body[pos] > 1 {
				return nil, s.malformed(i, "boolean: want byte 0 or 1")
			}
			dst[i] = Value{N: int64(body[pos])}
			pos++
			continue
		}
		n, w := binary.Varint(body[pos:])
		if w == 0 {
			return nil, s.malformed(i, "varint: short buffer")
		}
		if w < 0 {
			// goavro silently truncates such a number; the flat codec refuses it.
			return nil, s.malformed(i, "varint: overflows 64 bits")
		}
		pos += w
		switch f.typ {
		case TString:
			if n < 0 || n > int64(len(body)-pos) {
				return nil, s.malformed(i, "string length out of range")
			}
			dst[i] = Value{S: alias(body[pos : pos+int(n)])}
			pos += int(n)
		case TInt:
			if n < math.MinInt32 || n > math.MaxInt32 {
				return nil, s.malformed(i, "int: overflows 32 bits") // goavro truncates
			}
			dst[i] = Value{N: n}
		case TEnum:
			if n < 0 || n >= int64(len(f.symbols)) {
				return nil, s.malformed(i, "enum index out of range")
			}
			dst[i] = Value{N: n}
		default: // TLong, TTimestamp
			dst[i] = Value{N: n}
		}
	}
	if pos != len(body) {
		return nil, fmt.Errorf("%w: %s: %d trailing bytes", ErrMalformed, s.Name, len(body)-pos)
	}
	return dst, nil
}

func (s *Schema) malformed(i int, what string) error {
	return fmt.Errorf("%w: %s: field %s: %s", ErrMalformed, s.Name, s.Fields[i].Name, what)
}

// alias returns b as a string without copying it.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// AppendFlat appends the single-object encoding of rec (len(s.Fields) values in
// field order) to buf. Values must fit their fields: an int in int32 range, an
// enum index among the symbols, a boolean 0 or 1; a bad value is an error naming
// the field, and buf is returned as it was.
func (s *Schema) AppendFlat(buf []byte, rec []Value) ([]byte, error) {
	if len(rec) != len(s.flat) {
		return buf, fmt.Errorf("encode %s: %d values for %d fields", s.Name, len(rec), len(s.flat))
	}
	start := len(buf)
	buf = append(buf, s.header[:]...)
	for i := range s.flat {
		f, v := &s.flat[i], rec[i]
		switch f.typ {
		case TString:
			buf = binary.AppendVarint(buf, int64(len(v.S)))
			buf = append(buf, v.S...)
		case TBoolean:
			if v.N != 0 && v.N != 1 {
				return buf[:start], fmt.Errorf("encode %s: field %s: boolean %d", s.Name, s.Fields[i].Name, v.N)
			}
			buf = append(buf, byte(v.N))
		case TInt:
			if v.N < math.MinInt32 || v.N > math.MaxInt32 {
				return buf[:start], fmt.Errorf("encode %s: field %s: %d overflows int", s.Name, s.Fields[i].Name, v.N)
			}
			buf = binary.AppendVarint(buf, v.N)
		case TEnum:
			if v.N < 0 || v.N >= int64(len(f.symbols)) {
				return buf[:start], fmt.Errorf("encode %s: field %s: enum index %d of %d symbols", s.Name, s.Fields[i].Name, v.N, len(f.symbols))
			}
			buf = binary.AppendVarint(buf, v.N)
		default:
			buf = binary.AppendVarint(buf, v.N)
		}
	}
	return buf, nil
}

// ValidateFlat is Validate for a flat record of s.
func ValidateFlat(s *Schema, rec []Value, w Window) error {
	if i := s.idAt[0]; i < 0 || s.flat[i].typ != TString {
		return fmt.Errorf("%w: %s has no event_id", ErrInvalid, s.Name)
	} else if err := checkID("event_id", len(rec[i].S)); err != nil {
		return err
	}
	if i := s.idAt[1]; i < 0 || s.flat[i].typ != TString {
		return fmt.Errorf("%w: %s has no installation_id", ErrInvalid, s.Name)
	} else if err := CheckInstallationID(rec[i].S); err != nil {
		return err
	}
	for i := range s.flat {
		var err error
		switch v, name := rec[i], s.Fields[i].Name; s.flat[i].typ {
		case TString:
			err = checkString(name, v.S)
			if d := s.Fields[i].Domain; err == nil && d != nil && d.Refuse {
				err = checkRefusing(name, d, v.S)
			}
		case TInt, TLong:
			err = checkNumber(name, v.N)
		case TTimestamp:
			err = checkTime(name, v.Time(), w)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ToFlat converts a record in goavro's native form (as Decode returns it, or as
// callers build it: strings, int/int32/int64, bool, enum symbols, time.Time) to a
// flat record of s. Missing fields take their zero value. Strings are not copied.
func (s *Schema) ToFlat(rec map[string]any) ([]Value, error) {
	out := make([]Value, len(s.flat))
	for i := range s.flat {
		v, ok := rec[s.Fields[i].Name]
		if !ok {
			continue
		}
		f := &s.flat[i]
		bad := func() error {
			return fmt.Errorf("%s: field %s: want %s, got %T", s.Name, s.Fields[i].Name, f.typ, v)
		}
		switch f.typ {
		case TString:
			x, ok := v.(string)
			if !ok {
				return nil, bad()
			}
			out[i].S = x
		case TEnum:
			x, ok := v.(string)
			idx := slices.Index(f.symbols, x)
			if !ok || idx < 0 {
				return nil, fmt.Errorf("%s: field %s: %v is not one of %v", s.Name, s.Fields[i].Name, v, f.symbols)
			}
			out[i].N = int64(idx)
		case TBoolean:
			x, ok := v.(bool)
			if !ok {
				return nil, bad()
			}
			if x {
				out[i].N = 1
			}
		case TTimestamp:
			x, ok := v.(time.Time)
			if !ok {
				return nil, bad()
			}
			out[i].N = x.UnixMilli()
		default: // TInt, TLong
			switch x := v.(type) {
			case int:
				out[i].N = int64(x)
			case int32:
				out[i].N = int64(x)
			case int64:
				out[i].N = x
			default:
				return nil, bad()
			}
		}
	}
	return out, nil
}

// FromFlat converts a flat record of s to goavro's native form, as Decode
// returns it: strings cloned, ints as int32, longs as int64, enums as symbols,
// timestamps as UTC time.Time.
func (s *Schema) FromFlat(rec []Value) map[string]any {
	out := make(map[string]any, len(s.flat))
	for i := range s.flat {
		name, v := s.Fields[i].Name, rec[i]
		switch s.flat[i].typ {
		case TString:
			out[name] = strings.Clone(v.S)
		case TInt:
			out[name] = int32(v.N)
		case TLong:
			out[name] = v.N
		case TBoolean:
			out[name] = v.N == 1
		case TEnum:
			out[name] = s.flat[i].symbols[v.N]
		case TTimestamp:
			out[name] = v.Time()
		}
	}
	return out
}

// String is the Avro name of the type.
func (t FieldType) String() string {
	if int(t) >= len(typeNames) {
		return "unknown"
	}
	return typeNames[t]
}

var typeNames = [...]string{"unknown", "string", "int", "long", "boolean", "enum", "timestamp-millis"}
