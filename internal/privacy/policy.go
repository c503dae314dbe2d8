package privacy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

// Pseudonymizer replaces an identifier by a keyed pseudonym. Implementations must
// use a secret, rotating key (see package pseudonym); a plain hash is not acceptable
// because identifiers are guessable.
type Pseudonymizer interface {
	Pseudonym(field, value string) (string, error)
}

// Locator coarsens a location: an IP address and/or a postal code into an ISO
// country code and a coarse region. Empty strings mean unknown.
type Locator interface {
	Locate(ip, zip string) (country, region string)
}

// Catalog is what the service itself publishes: the ids of the content it hosts
// (trailers, Live TV channels, DVR recordings, ads: set "hosted") and of the
// campaigns it sends (set "campaign"). Lookup returns the catalog's own copy of
// id when the set holds it.
type Catalog interface {
	Lookup(set, id string) (string, bool)
}

// Deps are the policy's only contacts with the outside world.
type Deps struct {
	Pseudonyms Pseudonymizer
	Geo        Locator
	Catalog    Catalog // nil: an empty catalog, so no catalog id is kept
}

type emptyCatalog struct{}

func (emptyCatalog) Lookup(string, string) (string, bool) { return "", false }

// Policy holds one compiled KindPolicy per raw schema.
type Policy struct {
	byRaw map[uint64]*KindPolicy
}

// KindPolicy turns records of one raw schema into records of its clean schema.
type KindPolicy struct {
	Raw, Clean *schemas.Schema
	Category   string   // consent category users can opt out of, or "none"
	required   []string // boolean fields that must be true for the event to be kept
	requiredAt []int    // their positions in Raw
	steps      []step
	replaced   []atomic.Uint64 // per raw field: values replaced because they were outside the domain
	dropAt     []int           // positions in Raw of the fields whose treatment is drop
	dropped    []string        // their names
}

// Replaced calls f for every raw field of the kind whose values the policy has
// replaced because they lay outside the field's domain (a kept string that
// became "other", a catalog id the catalog does not hold), with the running
// count. The enricher exports it as a metric.
func (k *KindPolicy) Replaced(f func(field string, n uint64)) {
	for i := range k.replaced {
		if n := k.replaced[i].Load(); n > 0 {
			f(k.Raw.Fields[i].Name, n)
		}
	}
}

// Categories users can opt out of, per installation. Other kinds of events are not
// opt-out-able by policy, which the privacy tab says.
var Categories = []string{"playback", "crash", "marketing"}

// DropReason returns why the event must not be kept at all ("" to keep it):
// a required boolean field, such as an integration's user_enabled, is not true.
func (k *KindPolicy) DropReason(in map[string]any) string {
	for _, f := range k.required {
		if v, _ := in[f].(bool); !v {
			return f + "-not-true"
		}
	}
	return ""
}

// DropReasonFlat is DropReason for a flat record of Raw.
func (k *KindPolicy) DropReasonFlat(in []schemas.Value) string {
	for j, i := range k.requiredAt {
		if in[i].N != 1 {
			return k.required[j] + "-not-true"
		}
	}
	return ""
}

// Redact blanks, in rec, a flat record of Raw, every field whose treatment is
// drop: a string becomes "", a number 0, a boolean false, an enum its first
// symbol. The record stays a record of Raw that encodes, so that a dead letter
// can hold it and be replayed, without the values the policy would never let out
// of the enricher. A required flag (an integration's user_enabled) is left as it
// is: it decides whether a replayed event is kept, and describes nobody. Redact
// returns the names of the blanked fields in field order, the same slice for
// every record of the kind, which the caller must not modify.
func (k *KindPolicy) Redact(rec []schemas.Value) []string {
	for _, i := range k.dropAt {
		rec[i] = schemas.Value{}
	}
	return k.dropped
}

// A step writes some fields of the clean record from the raw one. Both are flat
// records, of Raw and Clean; the positions are resolved when the policy compiles.
type step func(in, out []schemas.Value) error

// Treatment is a parsed "privacy" annotation.
type Treatment struct {
	Name string // keep, drop, pseudonymize, generalize, geo, hosted-only
	Rule string // after the colon: generalize:<rule>, geo:<ip|zip>
}

func (t Treatment) String() string {
	if t.Rule == "" {
		return t.Name
	}
	return t.Name + ":" + t.Rule
}

// ruleSpec describes what a treatment produces and what it reads.
type ruleSpec struct {
	outputs []string // clean fields written; nil means "the field's own name"
	group   string   // several raw fields feed the same outputs (geo, resolution)
	needs   []string // other raw fields the rule reads
	doc     string   // for the privacy tab
}

// rules is the vocabulary. Anything else in a schema is an error.
var rules = map[string]ruleSpec{
	"keep":                  {doc: "kept: an enum, number or boolean as sent; a string only as a value of its domain, anything else becoming \"other\""},
	"drop":                  {outputs: []string{}, doc: "removed before the event leaves the enricher"},
	"pseudonymize":          {doc: "replaced by a keyed HMAC-SHA256 pseudonym under the key of the current epoch; the key rotates and is destroyed after the retention period"},
	"hosted-only":           {doc: "kept only when the service's own catalog of hosted content (trailers, Live TV channels, DVR recordings, ads) holds the id, whatever the device says; emptied otherwise"},
	"generalize:hour":       {outputs: []string{"event_hour"}, doc: "truncated to the hour"},
	"generalize:duration":   {outputs: []string{"duration_bucket"}, needs: []string{"media_type"}, doc: "replaced by a coarse running-time bucket that depends on the media type"},
	"generalize:bitrate":    {outputs: []string{"bitrate_bucket"}, needs: []string{"media_type"}, doc: "replaced by a step of a coarse bitrate ladder that depends on the media type"},
	"generalize:size":       {outputs: []string{"size_bucket"}, needs: []string{"media_type"}, doc: "replaced by a coarse size bucket; withheld for video, whose size would give its running time back"},
	"generalize:resolution": {outputs: []string{"resolution"}, group: "resolution", needs: []string{"media_type"}, doc: "width and height replaced by a resolution class"},
	"generalize:played":     {outputs: []string{"played_bucket"}, needs: []string{"duration_ms"}, doc: "turned into the share of the item played, in coarse steps"},
	"geo:ip":                {outputs: []string{"country", "region"}, group: "geo", doc: "looked up as a country and, only where that is a large state, province or region (about 500,000 people or more), a region, then removed"},
	"geo:zip":               {outputs: []string{"country", "region"}, group: "geo", doc: "used only when the IP address is in the US or gives no country: turned into a US state (or Puerto Rico, the US Virgin Islands or Guam, which count as countries), then removed"},
}

// ParseTreatment validates one annotation.
func ParseTreatment(s string) (Treatment, error) {
	if s == "" {
		return Treatment{}, fmt.Errorf("no privacy annotation")
	}
	if _, ok := rules[s]; !ok {
		return Treatment{}, fmt.Errorf("unknown privacy treatment %q (known: %s)", s, strings.Join(Vocabulary(), ", "))
	}
	name, rule, _ := strings.Cut(s, ":")
	return Treatment{Name: name, Rule: rule}, nil
}

// Vocabulary lists every accepted annotation, sorted.
func Vocabulary() []string {
	out := make([]string, 0, len(rules))
	for k := range rules {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Outputs returns the clean fields treatment t of the raw field writes: the field
// itself (keep, pseudonymize, hosted-only), a renamed or derived field
// (generalize:<rule>, geo), or none (drop).
func Outputs(t Treatment, field string) ([]string, error) {
	spec, ok := rules[t.String()]
	if !ok {
		return nil, fmt.Errorf("unknown privacy treatment %q", t)
	}
	if spec.outputs == nil {
		return []string{field}, nil
	}
	return slices.Clone(spec.outputs), nil
}

// Describe says in a sentence what a treatment does, for the privacy tab.
func Describe(t Treatment) string { return rules[t.String()].doc }

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

// Kinds returns the policy of every raw schema, by kind and version.
func (p *Policy) Kinds() []*KindPolicy {
	out := make([]*KindPolicy, 0, len(p.byRaw))
	for _, kp := range p.byRaw {
		out = append(out, kp)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Raw, out[j].Raw
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Version < b.Version
	})
	return out
}

// For returns the policy of a raw schema.
func (p *Policy) For(raw *schemas.Schema) (*KindPolicy, bool) {
	kp, ok := p.byRaw[raw.Fingerprint]
	return kp, ok
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

// Apply turns one raw record into a clean one, both in goavro's native form (the
// form of the golden files, the privacy tab and the audit). It never modifies in.
// An error means the record cannot be made clean (for example the key store
// failed); the caller must not write the record anywhere but the dead-letter
// topic. The enricher uses ApplyFlat, the same steps without the conversions.
func (k *KindPolicy) Apply(in map[string]any) (map[string]any, error) {
	flat, err := k.Raw.ToFlat(in)
	if err != nil {
		return nil, err
	}
	out, err := k.ApplyFlat(flat, nil)
	if err != nil {
		return nil, err
	}
	return k.Clean.FromFlat(out), nil
}

// ApplyFlat writes the clean record of in, a flat record of Raw, into out (grown
// to the clean schema's length) and returns it. Strings of out may alias those of
// in, or be constants of the policy.
func (k *KindPolicy) ApplyFlat(in, out []schemas.Value) ([]schemas.Value, error) {
	n := len(k.Clean.Fields)
	if cap(out) < n {
		out = make([]schemas.Value, n)
	}
	out = out[:n]
	for _, s := range k.steps {
		if err := s(in, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
