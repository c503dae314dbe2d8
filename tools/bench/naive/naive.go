// Package naive holds the baselines scripts/bench and the Go benchmarks measure
// against: raw records converted to clean ones the obvious way with goavro maps
// (the enricher's baseline), and the in-memory window of recent event ids the
// sink deduplicated with before its on-disk index (the index's baseline).
package naive

import (
	"fmt"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

// Converter converts raw records to clean ones the obvious way with goavro:
// decode the record with the raw schema's codec (Registry.Decode), copy the
// fields the clean schema has (a field the raw record lacks gets the zero value
// of its type), encode with the clean schema's codec. No policy, no validation,
// no pseudonyms.
type Converter struct {
	reg   *schemas.Registry
	clean map[*schemas.Schema]*naiveKind // by raw schema
}

type naiveKind struct {
	clean  *schemas.Schema
	fields []naiveField
}

type naiveField struct {
	name string
	zero any
}

// New pairs every raw schema with the clean schema of its kind.
func New(reg *schemas.Registry) (*Converter, error) {
	n := &Converter{reg: reg, clean: map[*schemas.Schema]*naiveKind{}}
	for _, kind := range reg.Kinds() {
		raw, clean := reg.Latest(schemas.Raw, kind), reg.Latest(schemas.Clean, kind)
		if raw == nil || clean == nil {
			continue
		}
		k := &naiveKind{clean: clean}
		for i, f := range clean.Fields {
			z, err := Zero(clean, i)
			if err != nil {
				return nil, fmt.Errorf("naive baseline: %s.%s: %w", clean.Name, f.Name, err)
			}
			k.fields = append(k.fields, naiveField{name: f.Name, zero: z})
		}
		n.clean[raw] = k
	}
	return n, nil
}

// Convert appends the clean single-object encoding of the raw single-object
// record value to buf[:0].
func (n *Converter) Convert(buf, value []byte) ([]byte, error) {
	raw, rec, err := n.reg.Decode(value)
	if err != nil {
		return nil, err
	}
	k := n.clean[raw]
	if k == nil {
		return nil, fmt.Errorf("%s is not a raw schema", raw.Name)
	}
	out := make(map[string]any, len(k.fields))
	for _, f := range k.fields {
		v, ok := rec[f.name]
		if !ok {
			v = f.zero
		}
		out[f.name] = v
	}
	return k.clean.Encode(buf[:0], out)
}

// Zero is the zero of field i of s, in goavro's native form.
func Zero(s *schemas.Schema, i int) (any, error) {
	switch s.Type(i) {
	case schemas.TBoolean:
		return false, nil
	case schemas.TInt:
		return int32(0), nil
	case schemas.TLong:
		return int64(0), nil
	case schemas.TString:
		return "", nil
	case schemas.TEnum:
		return s.Symbols(i)[0], nil
	case schemas.TTimestamp:
		return time.Unix(0, 0).UTC(), nil
	}
	return nil, fmt.Errorf("no zero value for type %s", s.Type(i))
}
