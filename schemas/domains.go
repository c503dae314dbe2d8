package schemas

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// Other is what a kept string becomes when its value lies outside its domain.
const Other = "other"

// DomainKind says how a domain decides membership.
type DomainKind string

const (
	KindVocabulary DomainKind = "vocabulary" // a fixed list of canonical values and their spellings
	KindVersioned  DomainKind = "versioned"  // a name from a vocabulary and a numeric version (debian-12)
	KindUUID       DomainKind = "uuid"       // a UUID in text form
	KindVersion    DomainKind = "version"    // a release number, 2 to 4 numeric parts
	KindHex        DomainKind = "hex"        // 8 to 16 hexadecimal digits
	KindCatalog    DomainKind = "catalog"    // an id the service's own catalog holds (resolved by the policy)
)

// A Domain is the set of values a kept string field may hold. Canon maps what a
// device sent to the canonical value the clean record holds; a value outside the
// domain is never kept: it becomes Other, or the event is refused when Refuse is
// set. The empty string is in every domain that does not refuse (an optional field
// left empty says nothing).
//
// Canonical values are constants of the domain (vocabularies) or rebuilt from the
// digits and letters of the value after it matched a strict pattern (uuid,
// version, hex): no clean string is a copy of the bytes a device sent.
type Domain struct {
	Name    string
	Kind    DomainKind
	Doc     string   // one sentence for the privacy tab
	Refuse  bool     // out-of-domain values refuse the event
	Catalog string   // KindCatalog: which part of the service catalog (campaign)
	Values  []string // vocabulary and versioned kinds: the canonical values (names), sorted
	lookup  map[string]string
	from    map[string][]string // canonical value -> the other spellings that become it, sorted
}

//go:embed domains.json
var domainsJSON []byte

// domains are the named domains of domains.json, parsed once.
var domains = mustParseDomains(domainsJSON)

// LookupDomain returns the named domain.
func LookupDomain(name string) (*Domain, bool) {
	d, ok := domains[name]
	return d, ok
}

// Domains returns every named domain, sorted by name.
func Domains() []*Domain {
	out := make([]*Domain, 0, len(domains))
	for _, d := range domains {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func mustParseDomains(data []byte) map[string]*Domain {
	ds, err := ParseDomains(data)
	if err != nil {
		panic(err) // the embedded file is checked by the tests
	}
	return ds
}

// ParseDomains reads a domains file (the format of domains.json). A vocabulary
// that gives one spelling to two canonical values, an unknown kind or an empty
// vocabulary is an error.
func ParseDomains(data []byte) (map[string]*Domain, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("schemas: domains: %w", err)
	}
	out := map[string]*Domain{}
	for name, msg := range raw {
		if strings.HasPrefix(name, "__") {
			continue // comments
		}
		var d struct {
			Kind    DomainKind          `json:"kind"`
			Doc     string              `json:"doc"`
			Refuse  bool                `json:"refuse"`
			Catalog string              `json:"catalog"`
			Values  map[string][]string `json:"values"`
		}
		if err := json.Unmarshal(msg, &d); err != nil {
			return nil, fmt.Errorf("schemas: domain %q: %w", name, err)
		}
		dom := &Domain{Name: name, Kind: d.Kind, Doc: d.Doc, Refuse: d.Refuse, Catalog: d.Catalog}
		if strings.TrimSpace(d.Doc) == "" {
			return nil, fmt.Errorf("schemas: domain %q: no doc", name)
		}
		switch d.Kind {
		case KindVocabulary, KindVersioned:
			if len(d.Values) == 0 {
				return nil, fmt.Errorf("schemas: domain %q: a %s needs values", name, d.Kind)
			}
			dom.lookup, dom.from = map[string]string{}, map[string][]string{}
			for canon, spellings := range d.Values {
				for _, s := range append([]string{canon}, spellings...) {
					key := strings.ToLower(strings.TrimSpace(s))
					if prev, dup := dom.lookup[key]; dup && prev != canon {
						return nil, fmt.Errorf("schemas: domain %q: %q spells both %q and %q", name, s, prev, canon)
					}
					if _, dup := dom.lookup[key]; !dup && key != strings.ToLower(canon) {
						dom.from[canon] = append(dom.from[canon], key)
					}
					dom.lookup[key] = canon
				}
				sort.Strings(dom.from[canon])
				if canon == "" || canon == Other {
					return nil, fmt.Errorf("schemas: domain %q: %q cannot be a value", name, canon)
				}
				dom.Values = append(dom.Values, canon)
			}
			sort.Strings(dom.Values)
		case KindUUID, KindVersion, KindHex:
		case KindCatalog:
			if d.Catalog == "" {
				return nil, fmt.Errorf("schemas: domain %q: a catalog domain names its catalog", name)
			}
		default:
			return nil, fmt.Errorf("schemas: domain %q: unknown kind %q", name, d.Kind)
		}
		if d.Refuse && d.Kind != KindUUID {
			return nil, errors.New("schemas: domain " + name + ": only uuid domains refuse events")
		}
		out[name] = dom
	}
	return out, nil
}

// Canon returns the canonical value of v in d, and whether v is in d. The empty
// string is in every domain except refusing ones, as itself. Catalog domains
// cannot be decided here (the catalog is runtime data): Canon reports false for
// every non-empty value, and the policy asks the catalog instead.
//
// Canon does not allocate for values already in canonical form.
func (d *Domain) Canon(v string) (string, bool) {
	if v == "" {
		return "", !d.Refuse
	}
	switch d.Kind {
	case KindVocabulary:
		if c, ok := d.lookup[v]; ok {
			return c, true
		}
		return d.lookupFolded(v)
	case KindVersioned:
		return d.versioned(v)
	case KindUUID:
		return canonUUID(v)
	case KindVersion:
		return canonVersion(v, 4)
	case KindHex:
		return canonHex(v)
	}
	return "", false
}

// lookupFolded looks v up trimmed and lowercased, as the vocabulary's
// spellings are keyed. An ASCII value is folded into a buffer on the stack,
// which the map lookup reads without allocating (strings.ToLower allocated a
// string for every value spelled other than its canonical form).
func (d *Domain) lookupFolded(v string) (string, bool) {
	v = strings.TrimSpace(v)
	var buf [64]byte
	if len(v) > len(buf) {
		c, ok := d.lookup[strings.ToLower(v)]
		return c, ok
	}
	b := buf[:len(v)]
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= utf8.RuneSelf: // not ASCII: Unicode's case folding
			c, ok := d.lookup[strings.ToLower(v)]
			return c, ok
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b[i] = c
	}
	c, ok := d.lookup[string(b)]
	return c, ok
}

// versioned splits "name-1.2.3" (or "name 1.2") into a vocabulary name and a
// version, and returns "canonical-name-major[.minor]".
func (d *Domain) versioned(v string) (string, bool) {
	if len(v) > 64 {
		return "", false
	}
	for i := len(v) - 1; i > 0; i-- {
		if (v[i-1] == '-' || v[i-1] == ' ') && v[i] >= '0' && v[i] <= '9' {
			name, ok := d.lookupFolded(v[:i-1])
			if !ok {
				return "", false
			}
			ver, ok := canonVersion(v[i:], 2)
			if !ok {
				// a single number is a version too (windows-11, debian-12)
				if ver, ok = canonNumber(v[i:]); !ok {
					return "", false
				}
			}
			return name + "-" + ver, true
		}
	}
	return "", false
}

// canonUUID accepts the 36-character text form of a UUID, in either case, and
// returns it lowercased. It runs for every id of every event, twice (checked,
// then kept), so the common lowercase form costs one table lookup per byte and
// no copy.
func canonUUID(v string) (string, bool) {
	if len(v) != 36 || v[8] != '-' || v[13] != '-' || v[18] != '-' || v[23] != '-' {
		return "", false
	}
	var seen byte // every byte but the dashes
	for _, group := range [...]string{v[:8], v[9:13], v[14:18], v[19:23], v[24:]} {
		seen |= hexClasses(group)
	}
	return foldHex(v, seen)
}

// hexClasses or-s the hexClass of every byte of s.
func hexClasses(s string) byte {
	var seen byte
	for i := 0; i < len(s); i++ {
		seen |= hexClass[s[i]]
	}
	return seen
}

// foldHex returns v lowercased if seen, the hexClasses of v, says it holds
// hexadecimal digits only, copying it only when a digit is uppercase.
func foldHex(v string, seen byte) (string, bool) {
	switch {
	case seen&hexBad != 0:
		return "", false
	case seen&hexUpper == 0:
		return v, true
	}
	return strings.ToLower(v), true
}

// hexClass sorts bytes for canonUUID and canonHex: a lowercase hexadecimal
// digit is 0.
var hexClass = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			t[c] = hexUpper
		default:
			t[c] = hexBad
		}
	}
	return t
}()

const (
	hexUpper = 1 << iota // an uppercase hexadecimal digit
	hexBad               // not a hexadecimal digit
)

// canonVersion accepts 2 to 4 numeric parts of at most 5 digits each (the first
// without leading zeros; 24.04 is a version), optionally followed by a suffix starting with -, +, ~
// or a space, which is removed; parts past max are removed too.
func canonVersion(v string, max int) (string, bool) {
	parts, end, i := 0, 0, 0
	for parts < 4 {
		start := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		n := i - start
		if n == 0 || n > 5 || (parts == 0 && n > 1 && v[start] == '0') {
			return "", false
		}
		parts++
		if parts <= max {
			end = i
		}
		if i == len(v) || v[i] != '.' {
			break
		}
		i++
	}
	if parts < 2 {
		return "", false
	}
	if i < len(v) {
		switch v[i] {
		case '-', '+', '~', ' ':
		default:
			return "", false
		}
	}
	return v[:end], true
}

// canonNumber accepts one number of 1 to 5 digits.
func canonNumber(v string) (string, bool) {
	if len(v) == 0 || len(v) > 5 || (len(v) > 1 && v[0] == '0') {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return "", false
		}
	}
	return v, true
}

// canonHex accepts 8 to 16 hexadecimal digits and returns them lowercased.
func canonHex(v string) (string, bool) {
	if len(v) < 8 || len(v) > 16 {
		return "", false
	}
	return foldHex(v, hexClasses(v))
}

// Spellings returns the other spellings (trimmed, lower case) that Canon turns
// into value, sorted; none for a value without any, or outside a vocabulary.
func (d *Domain) Spellings(value string) []string { return slices.Clone(d.from[value]) }

// Describe says which values the domain holds, for the privacy tab: its doc, then
// for a vocabulary every value with the spellings that become it.
func (d *Domain) Describe() string {
	var list []string
	for _, v := range d.Values {
		if from := d.from[v]; len(from) > 0 {
			v += " (from " + strings.Join(from, ", ") + ")"
		}
		list = append(list, v)
	}
	switch d.Kind {
	case KindVocabulary:
		return d.Doc + " One of: " + strings.Join(list, "; ") + "."
	case KindVersioned:
		return d.Doc + " Names: " + strings.Join(list, "; ") + "."
	}
	return d.Doc
}
