package privacy

import (
	"sort"
	"sync/atomic"

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
