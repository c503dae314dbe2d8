package privacy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
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

// Deps are the policy's only contacts with the outside world.
type Deps struct {
	Pseudonyms Pseudonymizer
	Geo        Locator
}

// Policy holds one compiled KindPolicy per raw schema.
type Policy struct {
	byRaw map[uint64]*KindPolicy
}

// KindPolicy turns records of one raw schema into records of its clean schema.
type KindPolicy struct {
	Raw, Clean *schemas.Schema
	Category   string   // consent category users can opt out of, or "none"
	required   []string // boolean fields that must be true for the event to be kept
	steps      []step
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

type step func(in, out map[string]any) error

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
	"keep":                  {doc: "kept as sent"},
	"drop":                  {outputs: []string{}, doc: "removed before the event leaves the enricher"},
	"pseudonymize":          {doc: "replaced by a keyed HMAC-SHA256 pseudonym whose key rotates and is destroyed after the retention period"},
	"hosted-only":           {needs: []string{"media_source"}, doc: "kept only for content the service hosts (trailers, Live TV, DVR, ads); removed for media from your own server"},
	"generalize:hour":       {outputs: []string{"event_hour"}, doc: "truncated to the hour"},
	"generalize:duration":   {outputs: []string{"duration_bucket"}, needs: []string{"media_type"}, doc: "rounded into coarse running-time buckets (15 or 30 minutes for video, one bucket past 150 minutes; 1-minute steps up to 5 minutes for music, wider after)"},
	"generalize:bitrate":    {outputs: []string{"bitrate_bucket"}, needs: []string{"media_type"}, doc: "rounded onto a coarse bitrate ladder (growing fourfold at each step for video; the usual lossy tiers, then lossless, for music)"},
	"generalize:size":       {outputs: []string{"size_bucket"}, doc: "rounded into coarse size buckets (factors of 4 to 10)"},
	"generalize:resolution": {outputs: []string{"resolution"}, group: "resolution", needs: []string{"media_type"}, doc: "width and height replaced by a resolution class (SD, 720p, 1080p, 4K, 8K)"},
	"generalize:played":     {outputs: []string{"played_bucket"}, needs: []string{"duration_ms"}, doc: "turned into the share of the item played, in coarse steps"},
	"geo:ip":                {outputs: []string{"country", "region"}, group: "geo", doc: "looked up as country and coarse region, then removed"},
	"geo:zip":               {outputs: []string{"country", "region"}, group: "geo", doc: "turned into country and coarse region (a US state), then removed"},
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
	p := &Policy{byRaw: map[uint64]*KindPolicy{}}
	for _, raw := range reg.All() {
		if raw.Stage != schemas.Raw {
			continue
		}
		clean := reg.Latest(schemas.Clean, raw.Kind)
		if clean == nil {
			return nil, fmt.Errorf("privacy: %s: no clean schema for kind %q", raw.File, raw.Kind)
		}
		kp, err := compile(raw, clean, deps)
		if err != nil {
			return nil, fmt.Errorf("privacy: %s: %w", raw.File, err)
		}
		if !slices.Contains(Categories, raw.Consent) && raw.Consent != "none" {
			return nil, fmt.Errorf("privacy: %s: schema attribute \"consent\" must be one of %v or none, got %q", raw.File, Categories, raw.Consent)
		}
		kp.Category = raw.Consent
		p.byRaw[raw.Fingerprint] = kp
	}
	return p, nil
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
	for _, f := range raw.Fields {
		t, err := ParseTreatment(f.Privacy)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		if f.Require {
			if string(f.Type) != `"boolean"` {
				return nil, fmt.Errorf("field %q: \"require\" needs a boolean field, not %s", f.Name, f.Type)
			}
			required = append(required, f.Name)
		}
		spec := rules[t.String()]
		for _, n := range spec.needs {
			if !have[n] {
				return nil, fmt.Errorf("field %q: treatment %s needs field %q, which the schema lacks", f.Name, t, n)
			}
		}
		outs := spec.outputs
		if outs == nil {
			outs = []string{f.Name}
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
		}
		if spec.group == "" {
			s, err := simpleStep(t, f.Name, outs, deps)
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
		steps = append(steps, func(in, out map[string]any) error {
			out["resolution"] = Resolution(str(in["media_type"]), num(in["width"]), num(in["height"]))
			return nil
		})
	}
	if ips, zips := byRule["geo:ip"], byRule["geo:zip"]; len(ips)+len(zips) > 0 {
		if len(ips) > 1 || len(zips) > 1 {
			return nil, fmt.Errorf("fields %v: at most one geo:ip and one geo:zip field", append(ips, zips...))
		}
		ip, zip := first(ips), first(zips)
		steps = append(steps, func(in, out map[string]any) error {
			var ipv, zipv string
			if ip != "" {
				ipv = str(in[ip])
			}
			if zip != "" {
				zipv = str(in[zip])
			}
			out["country"], out["region"] = deps.Geo.Locate(ipv, zipv)
			return nil
		})
	}
	// The clean schema must be exactly what the treatments produce.
	cleanFields := map[string]bool{}
	for _, f := range clean.Fields {
		cleanFields[f.Name] = true
		if _, ok := produced[f.Name]; !ok {
			return nil, fmt.Errorf("clean field %q of %s is produced by no raw field", f.Name, clean.File)
		}
	}
	for o, from := range produced {
		if !cleanFields[o] {
			return nil, fmt.Errorf("field %q produces %q, which %s lacks", from, o, clean.File)
		}
	}
	return &KindPolicy{Raw: raw, Clean: clean, required: required, steps: steps}, nil
}

func simpleStep(t Treatment, field string, outs []string, deps Deps) (step, error) {
	switch t.String() {
	case "drop":
		return nil, nil
	case "keep":
		return func(in, out map[string]any) error { out[field] = in[field]; return nil }, nil
	case "pseudonymize":
		return func(in, out map[string]any) error {
			v := str(in[field])
			if v == "" {
				out[field] = ""
				return nil
			}
			p, err := deps.Pseudonyms.Pseudonym(field, v)
			if err != nil {
				return fmt.Errorf("pseudonymize %s: %w", field, err)
			}
			out[field] = p
			return nil
		}, nil
	case "hosted-only":
		return func(in, out map[string]any) error {
			if str(in["media_source"]) == "hosted" {
				out[field] = in[field]
			} else {
				out[field] = ""
			}
			return nil
		}, nil
	case "generalize:hour":
		return func(in, out map[string]any) error {
			t, ok := in[field].(time.Time)
			if !ok {
				return fmt.Errorf("%s: want a timestamp, got %T", field, in[field])
			}
			out[outs[0]] = HourOf(t)
			return nil
		}, nil
	case "generalize:duration":
		return func(in, out map[string]any) error {
			out[outs[0]] = DurationBucket(str(in["media_type"]), num(in[field]))
			return nil
		}, nil
	case "generalize:bitrate":
		return func(in, out map[string]any) error {
			out[outs[0]] = BitrateBucket(str(in["media_type"]), num(in[field]))
			return nil
		}, nil
	case "generalize:size":
		return func(in, out map[string]any) error { out[outs[0]] = SizeBucket(num(in[field])); return nil }, nil
	case "generalize:played":
		return func(in, out map[string]any) error {
			out[outs[0]] = PlayedBucket(num(in[field]), num(in["duration_ms"]))
			return nil
		}, nil
	}
	return nil, fmt.Errorf("treatment %s has no implementation", t)
}

// Apply turns one raw record into a clean one. It never modifies in. An error means
// the record cannot be made clean (for example the key store failed); the caller
// must not write the record anywhere but the dead-letter topic.
func (k *KindPolicy) Apply(in map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(k.Clean.Fields))
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

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case int:
		return int64(n)
	}
	return 0
}
