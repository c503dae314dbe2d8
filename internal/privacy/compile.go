package privacy

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

// A step writes some fields of the clean record from the raw one. Both are flat
// records, of Raw and Clean; the positions are resolved when the policy compiles.
type step func(in, out []schemas.Value) error

// New compiles the policy for every raw schema in reg. It fails closed: any raw
// field without a known treatment, a raw schema without a clean counterpart of the
// same kind and version, or a mismatch between the outputs of the treatments and the
// clean fields is an error naming the schema and field.
func New(reg *schemas.Registry, deps Deps) (*Policy, error) {
	if deps.Pseudonyms == nil || deps.Geo == nil {
		return nil, fmt.Errorf("privacy: a pseudonymizer and a locator are required")
	}
	if deps.Catalog == nil {
		deps.Catalog = emptyCatalog{}
	}
	p := &Policy{byRaw: map[uint64]*KindPolicy{}}
	for _, raw := range reg.All() {
		if raw.Stage != schemas.Raw {
			continue
		}
		clean := reg.Latest(schemas.Clean, raw.Kind)
		if clean == nil {
			return nil, fmt.Errorf("privacy: %s: no clean schema for kind %q", raw.File, raw.Kind)
		}
		if !slices.Contains(Categories, raw.Consent) && raw.Consent != "none" {
			return nil, fmt.Errorf("privacy: %s: schema attribute \"consent\" must be one of %v or none, got %q", raw.File, Categories, raw.Consent)
		}
		kp, err := compile(raw, clean, deps)
		if err != nil {
			return nil, fmt.Errorf("privacy: %s: %w", raw.File, err)
		}
		kp.Category = raw.Consent
		p.byRaw[raw.Fingerprint] = kp
	}
	return p, nil
}

func compile(raw, clean *schemas.Schema, deps Deps) (*KindPolicy, error) {
	have := map[string]bool{}
	for _, f := range raw.Fields {
		have[f.Name] = true
	}
	produced := map[string]string{} // clean field -> raw field(s) that produce it
	byRule := map[string][]string{} // grouped treatment -> raw fields
	claimed := map[string]bool{}    // groups whose outputs are accounted for
	var steps []step
	var required []string
	var requiredAt []int
	kp := &KindPolicy{Raw: raw, Clean: clean, replaced: make([]atomic.Uint64, len(raw.Fields))}
	for i, f := range raw.Fields {
		t, err := ParseTreatment(f.Privacy)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		if err := checkDomain(raw, i, t); err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		if f.About == "" {
			return nil, fmt.Errorf("field %q: no \"about\" attribute (one of %v): the audit must know what each field describes", f.Name, schemas.Abouts)
		}
		if t.Name == "drop" && !f.Require {
			kp.dropAt, kp.dropped = append(kp.dropAt, i), append(kp.dropped, f.Name)
		}
		if f.Require {
			if raw.Type(i) != schemas.TBoolean {
				return nil, fmt.Errorf("field %q: \"require\" needs a boolean field, not %s", f.Name, f.Type)
			}
			required, requiredAt = append(required, f.Name), append(requiredAt, i)
		}
		spec := rules[t.String()]
		for _, n := range spec.needs {
			if !have[n] {
				return nil, fmt.Errorf("field %q: treatment %s needs field %q, which the schema lacks", f.Name, t, n)
			}
		}
		outs, err := Outputs(t, f.Name)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		if spec.group != "" {
			byRule[t.String()] = append(byRule[t.String()], f.Name)
			if claimed[spec.group] {
				continue // the group's step is built once, below
			}
			claimed[spec.group] = true
		}
		for _, o := range outs {
			if prev, dup := produced[o]; dup {
				return nil, fmt.Errorf("field %q: output %q is already produced by %q", f.Name, o, prev)
			}
			produced[o] = f.Name
			if clean.Index(o) < 0 {
				return nil, fmt.Errorf("field %q produces %q, which %s lacks", f.Name, o, clean.File)
			}
		}
		if spec.group == "" {
			s, err := kp.simpleStep(t, i, outs, deps)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
			if s != nil {
				steps = append(steps, s)
			}
		}
	}
	if fs := byRule["generalize:resolution"]; len(fs) > 0 {
		if len(fs) != 2 || fs[0] != "width" || fs[1] != "height" {
			return nil, fmt.Errorf("fields %v: generalize:resolution takes exactly the fields width and height, in that order", fs)
		}
		mt, w, h := reader(raw, "media_type"), raw.Index("width"), raw.Index("height")
		o, err := output(clean, "resolution", schemas.TString)
		if err != nil {
			return nil, err
		}
		steps = append(steps, func(in, out []schemas.Value) error {
			out[o] = schemas.Value{S: Resolution(mt(in), in[w].N, in[h].N)}
			return nil
		})
	}
	if ips, zips := byRule["geo:ip"], byRule["geo:zip"]; len(ips)+len(zips) > 0 {
		if len(ips) > 1 || len(zips) > 1 {
			return nil, fmt.Errorf("fields %v: at most one geo:ip and one geo:zip field", append(ips, zips...))
		}
		ip, zip := raw.Index(first(ips)), raw.Index(first(zips))
		for _, i := range []int{ip, zip} {
			if i >= 0 && raw.Type(i) != schemas.TString {
				return nil, fmt.Errorf("field %q: geo needs a string", raw.Fields[i].Name)
			}
		}
		oc, err := output(clean, "country", schemas.TString)
		if err != nil {
			return nil, err
		}
		or, err := output(clean, "region", schemas.TString)
		if err != nil {
			return nil, err
		}
		steps = append(steps, func(in, out []schemas.Value) error {
			var ipv, zipv string
			if ip >= 0 {
				ipv = in[ip].S
			}
			if zip >= 0 {
				zipv = in[zip].S
			}
			country, region := deps.Geo.Locate(ipv, zipv)
			out[oc], out[or] = schemas.Value{S: country}, schemas.Value{S: region}
			return nil
		})
	}
	// The clean schema must be exactly what the treatments produce: every output
	// was checked against it above, and every clean field must have a producer.
	for _, f := range clean.Fields {
		if _, ok := produced[f.Name]; !ok {
			return nil, fmt.Errorf("clean field %q of %s is produced by no raw field", f.Name, clean.File)
		}
	}
	kp.required, kp.requiredAt, kp.steps = required, requiredAt, steps
	return kp, nil
}

// checkDomain enforces that a kept string has a declared domain: a free string is
// never kept as sent. A domain belongs to a kept string only.
func checkDomain(raw *schemas.Schema, i int, t Treatment) error {
	f, typ := raw.Fields[i], raw.Type(i)
	switch {
	case t.String() == "keep" && typ == schemas.TString && f.Domain == nil:
		return fmt.Errorf("keep of a string needs a \"domain\" attribute naming its values (one of %s): a free string is never kept as sent", domainNames())
	case f.Domain != nil && (t.String() != "keep" || typ != schemas.TString):
		return fmt.Errorf("a \"domain\" belongs to a kept string, not to %s of a %s", t, typ)
	case t.String() == "hosted-only" && typ != schemas.TString:
		return fmt.Errorf("hosted-only needs a string, not a %s", typ)
	}
	return nil
}

func domainNames() string {
	var names []string
	for _, d := range schemas.Domains() {
		names = append(names, d.Name)
	}
	return strings.Join(names, ", ")
}

// PseudonymScope is the scope the kind's pseudonyms are computed in: its consent
// category (playback, crash, marketing), or the kind itself when it has none
// (update checks, integrations). The same installation has unrelated pseudonyms
// in two scopes, so no one can join what a user allowed in one category to what
// they allowed in another; kinds of one category share their pseudonyms.
func (k *KindPolicy) PseudonymScope() string { return pseudonymScope(k.Raw) }

func pseudonymScope(raw *schemas.Schema) string {
	if raw.Consent == "none" || raw.Consent == "" {
		return raw.Kind
	}
	return raw.Consent
}

// pseudonymDomain separates the pseudonyms of one field across scopes
// (PseudonymScope), and of the fields of one scope from each other.
func pseudonymDomain(raw *schemas.Schema, field string) string {
	return pseudonymScope(raw) + "/" + field
}

// output returns the position of a clean field the policy writes, which must
// have type t.
func output(clean *schemas.Schema, name string, t schemas.FieldType) (int, error) {
	o := clean.Index(name)
	if o < 0 {
		return 0, fmt.Errorf("output %q: %s lacks it", name, clean.File)
	}
	if clean.Type(o) != t {
		return 0, fmt.Errorf("output %q of %s: want type %v, the schema says %s", name, clean.File, t, clean.Fields[o].Type)
	}
	return o, nil
}

// reader returns a function reading raw field name as a string: an enum as its
// symbol, a string as it is. The field must exist (compile checked the needs).
func reader(raw *schemas.Schema, name string) func([]schemas.Value) string {
	i := raw.Index(name)
	if raw.Type(i) == schemas.TEnum {
		syms := raw.Symbols(i)
		return func(in []schemas.Value) string { return syms[in[i].N] }
	}
	return func(in []schemas.Value) string { return in[i].S }
}

// copier returns how a kept raw field i becomes clean field o: the same type
// copies the value, an enum becomes its symbol in a string field. Any other pair
// is an error: the policy fails closed rather than guess.
func copier(raw, clean *schemas.Schema, i, o int) (func(v schemas.Value) schemas.Value, error) {
	rt, ct := raw.Type(i), clean.Type(o)
	switch {
	case rt == ct && (rt != schemas.TEnum || slices.Equal(raw.Symbols(i), clean.Symbols(o))):
		return func(v schemas.Value) schemas.Value { return v }, nil
	case rt == schemas.TEnum && ct == schemas.TString:
		syms := raw.Symbols(i)
		return func(v schemas.Value) schemas.Value { return schemas.Value{S: syms[v.N]} }, nil
	}
	return nil, fmt.Errorf("kept as clean field %q of type %s, but the raw type is %s", clean.Fields[o].Name, clean.Fields[o].Type, raw.Fields[i].Type)
}

func (k *KindPolicy) simpleStep(t Treatment, i int, outs []string, deps Deps) (step, error) {
	raw, clean := k.Raw, k.Clean
	field := raw.Fields[i].Name
	if t.String() == "drop" {
		return nil, nil
	}
	outType := schemas.TString
	if t.String() == "generalize:hour" {
		outType = schemas.TTimestamp
	}
	var o int
	var err error
	if t.String() == "keep" || t.String() == "hosted-only" {
		o = clean.Index(outs[0])
		if o < 0 {
			return nil, fmt.Errorf("output %q: %s lacks it", outs[0], clean.File)
		}
	} else if o, err = output(clean, outs[0], outType); err != nil {
		return nil, err
	}
	needType := func(want ...schemas.FieldType) error {
		if !slices.Contains(want, raw.Type(i)) {
			return fmt.Errorf("treatment %s cannot read type %s", t, raw.Fields[i].Type)
		}
		return nil
	}
	switch t.String() {
	case "keep":
		cp, err := copier(raw, clean, i, o)
		if err != nil {
			return nil, err
		}
		d := raw.Fields[i].Domain
		if d == nil { // an enum, a number or a boolean: its type is its domain
			return func(in, out []schemas.Value) error { out[o] = cp(in[i]); return nil }, nil
		}
		replaced := &k.replaced[i]
		if d.Kind == schemas.KindCatalog {
			set := d.Catalog
			return func(in, out []schemas.Value) error {
				v := in[i].S
				if v == "" {
					out[o] = schemas.Value{}
				} else if c, ok := deps.Catalog.Lookup(set, v); ok {
					out[o] = schemas.Value{S: c}
				} else {
					out[o] = schemas.Value{S: schemas.Other}
					replaced.Add(1)
				}
				return nil
			}, nil
		}
		return func(in, out []schemas.Value) error {
			c, ok := d.Canon(in[i].S)
			if !ok {
				c = schemas.Other
				replaced.Add(1)
			}
			out[o] = schemas.Value{S: c}
			return nil
		}, nil
	case "pseudonymize":
		if err := needType(schemas.TString); err != nil {
			return nil, err
		}
		scope := pseudonymDomain(raw, field)
		return func(in, out []schemas.Value) error {
			v := in[i].S
			if v == "" {
				out[o] = schemas.Value{}
				return nil
			}
			p, err := deps.Pseudonyms.Pseudonym(scope, v)
			if err != nil {
				return fmt.Errorf("pseudonymize %s: %w", field, err)
			}
			out[o] = schemas.Value{S: p}
			return nil
		}, nil
	case "hosted-only":
		if clean.Type(o) != schemas.TString {
			return nil, fmt.Errorf("hosted-only writes a string, but clean field %q is %s", outs[0], clean.Fields[o].Type)
		}
		replaced := &k.replaced[i]
		return func(in, out []schemas.Value) error {
			v := in[i].S
			if v == "" {
				out[o] = schemas.Value{}
			} else if c, ok := deps.Catalog.Lookup("hosted", v); ok {
				out[o] = schemas.Value{S: c}
			} else {
				out[o] = schemas.Value{} // the device's word is never enough
				replaced.Add(1)
			}
			return nil
		}, nil
	case "generalize:hour":
		if err := needType(schemas.TTimestamp); err != nil {
			return nil, err
		}
		const hour = int64(time.Hour / time.Millisecond)
		return func(in, out []schemas.Value) error {
			ms := in[i].N
			out[o] = schemas.Value{N: ms - ((ms%hour)+hour)%hour}
			return nil
		}, nil
	}
	if err := needType(schemas.TInt, schemas.TLong); err != nil {
		return nil, err
	}
	switch t.String() {
	case "generalize:duration":
		mt := reader(raw, "media_type")
		return func(in, out []schemas.Value) error {
			out[o] = schemas.Value{S: DurationBucket(mt(in), in[i].N)}
			return nil
		}, nil
	case "generalize:bitrate":
		mt := reader(raw, "media_type")
		return func(in, out []schemas.Value) error {
			out[o] = schemas.Value{S: BitrateBucket(mt(in), in[i].N)}
			return nil
		}, nil
	case "generalize:size":
		mt := reader(raw, "media_type")
		return func(in, out []schemas.Value) error {
			out[o] = schemas.Value{S: SizeBucket(mt(in), in[i].N)}
			return nil
		}, nil
	case "generalize:played":
		d := raw.Index("duration_ms")
		return func(in, out []schemas.Value) error {
			out[o] = schemas.Value{S: PlayedBucket(in[i].N, in[d].N)}
			return nil
		}, nil
	}
	return nil, fmt.Errorf("treatment %s has no implementation", t)
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
