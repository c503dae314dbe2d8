// Package catalog holds the service catalog: what the service itself publishes,
// as opposed to what devices report. It lists the ids of the content the service
// hosts (trailers, Live TV channels, DVR recordings, ads: set "hosted", each with
// its type) and of the campaigns it sends (set "campaign").
//
// The privacy policy keeps a catalog id only when this catalog holds it: a
// device's claim that an item is hosted is never enough, so a buggy or hostile
// client cannot keep the id of a file on a private server. The enricher loads the
// catalog from a file (--service-catalog) and reloads it when the file changes
// (Watch); the simulator draws its hosted ids and campaigns from the same file.
// Demo returns the catalog shipped with the demo (demo.json).
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
)

// Sets of the catalog.
const (
	Hosted   = "hosted"   // content the service hosts, with a type (HostedTypes)
	Campaign = "campaign" // campaigns the service sends
)

// HostedTypes are the types of hosted content, as the hosted schema's
// content_type names them.
var HostedTypes = []string{"trailer", "live_tv", "dvr", "ad"}

// MaxID is the longest id a catalog may hold, in bytes.
const MaxID = 128

// Item is one entry of a set.
type Item struct {
	ID   string `json:"id"`
	Type string `json:"type,omitempty"` // hosted items only: one of HostedTypes
}

// Catalog is an immutable service catalog. The zero value is empty.
type Catalog struct {
	sets map[string]map[string]Item
}

//go:embed demo.json
var demoJSON []byte

// Demo returns the catalog shipped with the demo; the simulator uses it unless
// told otherwise, and scripts/demo points the enricher at the same file.
func Demo() *Catalog {
	c, err := Parse(demoJSON)
	if err != nil {
		panic(err) // checked by the tests
	}
	return c
}

// DemoJSON returns the bytes of the demo catalog, for writing it to a file.
func DemoJSON() []byte { return slices.Clone(demoJSON) }

// Load reads a catalog file.
func Load(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("catalog: %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a catalog document: a JSON object whose keys are set names
// ("hosted", "campaign"; keys starting with "__" are comments) and whose values
// are arrays of items. An unknown set, an empty or overlong id, an id listed
// twice, or a hosted item without a known type is an error: a catalog that
// cannot be read exactly is refused, and the enricher keeps the last good one.
func Parse(data []byte) (*Catalog, error) {
	var doc map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("want a JSON object of sets: %w", err)
	}
	c := &Catalog{sets: map[string]map[string]Item{}}
	for name, raw := range doc {
		if len(name) >= 2 && name[:2] == "__" {
			continue
		}
		if name != Hosted && name != Campaign {
			return nil, fmt.Errorf("unknown set %q (want %s or %s)", name, Hosted, Campaign)
		}
		var items []Item
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&items); err != nil {
			return nil, fmt.Errorf("set %s: want an array of {\"id\", \"type\"}: %w", name, err)
		}
		set := make(map[string]Item, len(items))
		for i, it := range items {
			switch {
			case it.ID == "" || len(it.ID) > MaxID:
				return nil, fmt.Errorf("set %s, item %d: id must be 1-%d bytes", name, i, MaxID)
			case name == Hosted && !slices.Contains(HostedTypes, it.Type):
				return nil, fmt.Errorf("set %s, item %d (%s): type must be one of %v, got %q", name, i, it.ID, HostedTypes, it.Type)
			case name == Campaign && it.Type != "":
				return nil, fmt.Errorf("set %s, item %d (%s): campaigns have no type", name, i, it.ID)
			}
			if _, dup := set[it.ID]; dup {
				return nil, fmt.Errorf("set %s: id %q is listed twice", name, it.ID)
			}
			set[it.ID] = it
		}
		c.sets[name] = set
	}
	return c, nil
}

// Lookup returns the catalog's own copy of id when set holds it. It implements
// the privacy policy's Catalog.
func (c *Catalog) Lookup(set, id string) (string, bool) {
	if c == nil {
		return "", false
	}
	it, ok := c.sets[set][id]
	return it.ID, ok
}

// Items returns the items of a set, sorted by id.
func (c *Catalog) Items(set string) []Item {
	if c == nil {
		return nil
	}
	out := make([]Item, 0, len(c.sets[set]))
	for _, it := range c.sets[set] {
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Len returns the number of items of a set.
func (c *Catalog) Len(set string) int {
	if c == nil {
		return 0
	}
	return len(c.sets[set])
}
