// Package naive holds the baselines scripts/bench and the Go benchmarks measure
// against: raw records converted to clean ones the obvious way with goavro maps
// (the enricher's baseline), and the in-memory window of recent event ids the
// sink deduplicated with before its on-disk index (the index's baseline).
package naive

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/veiltelemetry/veil/schemas"
)

// Converter converts raw records to clean ones the obvious way with goavro: decode the body with the raw schema's
// codec, copy the fields the clean schema has (a field the raw record lacks gets
// the zero value of its type), encode with the clean schema's codec. No policy,
// no validation, no pseudonyms.
type Converter struct {
	byFingerprint map[uint64]*naiveKind
}

type naiveKind struct {
	raw, clean *goavro.Codec
	header     []byte // single-object header of the clean schema
	fields     []naiveField
}

type naiveField struct {
	name string
	zero any
}

// New pairs every raw schema with the clean schema of its kind.
func New(reg *schemas.Registry) (*Converter, error) {
	n := &Converter{byFingerprint: map[uint64]*naiveKind{}}
	for _, kind := range reg.Kinds() {
		raw, clean := reg.Latest(schemas.Raw, kind), reg.Latest(schemas.Clean, kind)
		if raw == nil || clean == nil {
			continue
		}
		k := &naiveKind{raw: raw.Codec, clean: clean.Codec, header: clean.Header()}
		for _, f := range clean.Fields {
			z, err := Zero(f.Type)
			if err != nil {
				return nil, fmt.Errorf("naive baseline: %s.%s: %w", clean.Name, f.Name, err)
			}
			k.fields = append(k.fields, naiveField{name: f.Name, zero: z})
		}
		n.byFingerprint[raw.Fingerprint] = k
	}
	return n, nil
}

// Convert appends the clean single-object encoding of the raw single-object
// record value to buf[:0].
func (n *Converter) Convert(buf, value []byte) ([]byte, error) {
	if len(value) < 10 || value[0] != 0xC3 || value[1] != 0x01 {
		return nil, fmt.Errorf("not a single-object encoded record")
	}
	k := n.byFingerprint[binary.LittleEndian.Uint64(value[2:10])]
	if k == nil {
		return nil, fmt.Errorf("unknown raw fingerprint %x", value[2:10])
	}
	native, _, err := k.raw.NativeFromBinary(value[10:])
	if err != nil {
		return nil, err
	}
	rec, ok := native.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("raw record decoded to %T", native)
	}
	out := make(map[string]any, len(k.fields))
	for _, f := range k.fields {
		v, ok := rec[f.name]
		if !ok {
			v = f.zero
		}
		out[f.name] = v
	}
	return k.clean.BinaryFromNative(append(buf[:0], k.header...), out)
}

// Zero is the zero of an Avro field type, in goavro's native form.
func Zero(raw json.RawMessage) (any, error) {
	var name string
	if json.Unmarshal(raw, &name) == nil {
		switch name {
		case "null":
			return nil, nil
		case "boolean":
			return false, nil
		case "int":
			return int32(0), nil
		case "long":
			return int64(0), nil
		case "float":
			return float32(0), nil
		case "double":
			return float64(0), nil
		case "string":
			return "", nil
		case "bytes":
			return []byte{}, nil
		}
		return nil, fmt.Errorf("no zero value for named type %q", name)
	}
	var union []json.RawMessage
	if json.Unmarshal(raw, &union) == nil {
		if len(union) == 0 {
			return nil, fmt.Errorf("empty union")
		}
		for _, b := range union {
			if string(b) == `"null"` {
				return nil, nil
			}
		}
		z, err := Zero(union[0])
		if err != nil {
			return nil, err
		}
		var branch string
		if json.Unmarshal(union[0], &branch) != nil {
			var obj struct{ Type, Name string }
			if err := json.Unmarshal(union[0], &obj); err != nil {
				return nil, err
			}
			branch = obj.Type
			if obj.Name != "" {
				branch = obj.Name
			}
		}
		return goavro.Union(branch, z), nil
	}
	var obj struct {
		Type        json.RawMessage `json:"type"`
		LogicalType string          `json:"logicalType"`
		Symbols     []string        `json:"symbols"`
		Size        int             `json:"size"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("type %s: %w", raw, err)
	}
	switch obj.LogicalType {
	case "timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros", "date":
		return time.Unix(0, 0).UTC(), nil
	}
	var t string
	_ = json.Unmarshal(obj.Type, &t)
	switch t {
	case "enum":
		if len(obj.Symbols) == 0 {
			return nil, fmt.Errorf("enum without symbols")
		}
		return obj.Symbols[0], nil
	case "array":
		return []any{}, nil
	case "map":
		return map[string]any{}, nil
	case "fixed":
		return make([]byte, obj.Size), nil
	case "record":
		return nil, fmt.Errorf("no zero value for a nested record")
	}
	return Zero(obj.Type)
}
