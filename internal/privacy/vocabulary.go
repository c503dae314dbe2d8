package privacy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Categories users can opt out of, per installation. Other kinds of events are not
// opt-out-able by policy, which the privacy tab says.
var Categories = []string{"playback", "crash", "marketing"}

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
