package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// CanonicalForm returns the Parsing Canonical Form of an Avro schema given as JSON
// text, as the Avro specification defines it (section "Parsing Canonical Form for
// Schemas"), which is what other Avro implementations fingerprint:
//
//   - [PRIMITIVES] a primitive written as an object, {"type":"long"}, becomes its
//     name, "long", whatever other attributes (logicalType) the object has;
//   - [FULLNAMES] names of records, enums and fixed types, and references to
//     them, become full names: "veil.raw.v1.DeviceType";
//   - [STRIP] only type, name, fields, symbols, items, values and size are kept
//     (doc, aliases, default, order, logicalType and Veil's own annotations go);
//   - [ORDER] they are written in that order: name, type, fields, symbols, items,
//     values, size;
//   - [STRINGS] strings are written as their UTF-8 characters, not escapes (names
//     and symbols are ASCII letters, digits and underscores, checked here, so
//     nothing is left to escape);
//   - [INTEGERS] sizes are written without leading zeros;
//   - [WHITESPACE] nothing is written outside strings but the JSON itself.
//
// A named type is written in full where it is first defined, in depth-first
// order, and as its quoted full name wherever it appears again.
//
// goavro's Codec.CanonicalSchema differs for logical types: it writes
// {"type":"long"} where the specification writes "long" (see LegacyFingerprint).
//
// CanonicalForm checks what it needs to write the form (names, references,
// required attributes); it is not a full schema validation, which goavro.NewCodec
// does.
func CanonicalForm(schema []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(schema))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("canonical form: parse JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", errors.New("canonical form: data after the schema")
	}
	c := canonicalizer{defined: map[string]bool{}}
	if err := c.schema(v, ""); err != nil {
		return "", fmt.Errorf("canonical form: %w", err)
	}
	return c.b.String(), nil
}

// primitives are the type names that stand for themselves.
var primitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true,
	"float": true, "double": true, "bytes": true, "string": true,
}

// canonicalizer writes one schema's canonical form.
type canonicalizer struct {
	b       strings.Builder
	defined map[string]bool // full names of the named types written so far
}

// schema writes v, a schema in any of its three JSON forms; ns is the namespace
// of the innermost enclosing named type ("" for none).
func (c *canonicalizer) schema(v any, ns string) error {
	switch v := v.(type) {
	case string:
		return c.reference(v, ns)
	case []any: // a union
		c.b.WriteByte('[')
		for i, branch := range v {
			if i > 0 {
				c.b.WriteByte(',')
			}
			if err := c.schema(branch, ns); err != nil {
				return err
			}
		}
		c.b.WriteByte(']')
		return nil
	case map[string]any:
		return c.object(v, ns)
	default:
		return fmt.Errorf("a schema is a string, an array or an object, not %s", jsonKind(v))
	}
}

// reference writes a primitive's name, or the full name of a named type defined
// before. A name without a dot is looked up in ns first, then without namespace,
// as Avro Java does.
func (c *canonicalizer) reference(name string, ns string) error {
	if primitives[name] {
		c.quoted(name)
		return nil
	}
	full := name
	if !strings.Contains(name, ".") && ns != "" && c.defined[ns+"."+name] {
		full = ns + "." + name
	}
	if !c.defined[full] {
		return fmt.Errorf("unknown type %q", name)
	}
	c.quoted(full)
	return nil
}

// object writes a schema given as a JSON object.
func (c *canonicalizer) object(m map[string]any, ns string) error {
	switch t := m["type"].(type) {
	case string:
		switch t {
		case "record", "error":
			return c.named(m, "record", ns)
		case "enum", "fixed":
			return c.named(m, t, ns)
		case "array", "map":
			attr := map[string]string{"array": "items", "map": "values"}[t]
			inner, ok := m[attr]
			if !ok {
				return fmt.Errorf("%s without %q", t, attr)
			}
			c.b.WriteString(`{"type":`)
			c.quoted(t)
			c.b.WriteString(`,"` + attr + `":`)
			if err := c.schema(inner, ns); err != nil {
				return err
			}
			c.b.WriteByte('}')
			return nil
		default: // [PRIMITIVES]: {"type":"long","logicalType":"timestamp-millis"} is "long"
			return c.reference(t, ns)
		}
	case nil:
		return errors.New(`object without "type"`)
	default:
		return fmt.Errorf(`"type" is %s, not a type name`, jsonKind(t))
	}
}

// named writes a record, enum or fixed type and defines its full name.
func (c *canonicalizer) named(m map[string]any, kind string, ns string) error {
	name, ok := m["name"].(string)
	if !ok {
		return fmt.Errorf("%s without a string \"name\"", kind)
	}
	space := ns
	if i := strings.LastIndexByte(name, '.'); i >= 0 { // a full name; namespace is ignored
		space = name[:i]
	} else if n, has := m["namespace"]; has && n != nil {
		if space, ok = n.(string); !ok {
			return fmt.Errorf("%s %s: \"namespace\" is %s, not a string", kind, name, jsonKind(n))
		}
	}
	full := name
	if !strings.Contains(name, ".") && space != "" {
		full = space + "." + name
	}
	if err := checkFullName(full); err != nil {
		return fmt.Errorf("%s %q: %w", kind, full, err)
	}
	if primitives[full] {
		return fmt.Errorf("%s %q: a primitive type's name cannot be redefined", kind, full)
	}
	if c.defined[full] {
		return fmt.Errorf("%s %q is defined twice", kind, full)
	}
	c.defined[full] = true // before the fields: a record may refer to itself

	c.b.WriteString(`{"name":`)
	c.quoted(full)
	c.b.WriteString(`,"type":`)
	c.quoted(kind)
	switch kind {
	case "record":
		fields, ok := m["fields"].([]any)
		if !ok {
			return fmt.Errorf("record %s: \"fields\" is missing or not an array", full)
		}
		c.b.WriteString(`,"fields":[`)
		for i, f := range fields {
			fm, ok := f.(map[string]any)
			if !ok {
				return fmt.Errorf("record %s: field %d is %s, not an object", full, i, jsonKind(f))
			}
			fname, ok := fm["name"].(string)
			if !ok || !isName(fname) {
				return fmt.Errorf("record %s: field %d: name %v is not an Avro name", full, i, fm["name"])
			}
			ftype, ok := fm["type"]
			if !ok {
				return fmt.Errorf("record %s: field %s has no type", full, fname)
			}
			if i > 0 {
				c.b.WriteByte(',')
			}
			c.b.WriteString(`{"name":`)
			c.quoted(fname)
			c.b.WriteString(`,"type":`)
			if err := c.schema(ftype, space); err != nil {
				return fmt.Errorf("record %s: field %s: %w", full, fname, err)
			}
			c.b.WriteByte('}')
		}
		c.b.WriteByte(']')
	case "enum":
		symbols, ok := m["symbols"].([]any)
		if !ok {
			return fmt.Errorf("enum %s: \"symbols\" is missing or not an array", full)
		}
		c.b.WriteString(`,"symbols":[`)
		for i, sym := range symbols {
			s, ok := sym.(string)
			if !ok || !isName(s) {
				return fmt.Errorf("enum %s: symbol %v is not an Avro name", full, sym)
			}
			if i > 0 {
				c.b.WriteByte(',')
			}
			c.quoted(s)
		}
		c.b.WriteByte(']')
	case "fixed":
		size, ok := m["size"].(json.Number)
		if !ok {
			return fmt.Errorf("fixed %s: \"size\" is missing or not a number", full)
		}
		n, err := strconv.ParseInt(string(size), 10, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("fixed %s: size %s is not a non-negative integer", full, size)
		}
		c.b.WriteString(`,"size":`)
		c.b.WriteString(strconv.FormatInt(n, 10)) // [INTEGERS]
	}
	c.b.WriteByte('}')
	return nil
}

// quoted writes s as a JSON string. Every string the canonical form holds is a
// type name, a full name or a symbol, checked to need no escape.
func (c *canonicalizer) quoted(s string) {
	c.b.WriteByte('"')
	c.b.WriteString(s)
	c.b.WriteByte('"')
}

// isName reports whether s is an Avro name: [A-Za-z_][A-Za-z0-9_]*.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b == '_', 'A' <= b && b <= 'Z', 'a' <= b && b <= 'z':
		case '0' <= b && b <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// checkFullName checks that every dot-separated part of a full name is a name.
func checkFullName(full string) error {
	for _, part := range strings.Split(full, ".") {
		if !isName(part) {
			return fmt.Errorf("%q is not an Avro name", part)
		}
	}
	return nil
}

// jsonKind names the JSON type of a value decoded with UseNumber.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}
