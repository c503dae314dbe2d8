package geo

import (
	"fmt"
	"net/netip"
	"sync"

	"github.com/oschwald/maxminddb-golang/v2"
)

// MMDB reads a MaxMind-format database (GeoLite2 or DB-IP, country or city).
// It is safe for concurrent use.
type MMDB struct {
	r *maxminddb.Reader
	// places caches what Lookup decoded, by the record's offset in the
	// database: many networks share a record (a country, or a country and a
	// region), so once warm a lookup walks the search tree and decodes
	// nothing. It holds places, never addresses.
	places sync.Map // uintptr → place
	mu     sync.Mutex
	cached int // entries in places, under mu
}

// maxCachedPlaces bounds MMDB.places: a country-and-region database has a
// few thousand records; a city database caches its first ones and decodes the
// others on every lookup.
const maxCachedPlaces = 1 << 16

type place struct{ country, region string }

// OpenMMDB opens a database file.
func OpenMMDB(path string) (*MMDB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geo: open %s: %w", path, err)
	}
	return &MMDB{r: r}, nil
}

type mmdbRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"subdivisions"`
}

// Lookup returns the country and first-level subdivision (as CC-SUB) of ip.
func (m *MMDB) Lookup(ip netip.Addr) (country, region string, ok bool) {
	res := m.r.Lookup(ip)
	if !res.Found() {
		return "", "", false
	}
	if p, hit := m.places.Load(res.Offset()); hit {
		pl := p.(place)
		return pl.country, pl.region, pl.country != ""
	}
	var rec mmdbRecord
	if err := res.Decode(&rec); err != nil {
		return "", "", false
	}
	var pl place
	if rec.Country.ISOCode != "" {
		pl.country = rec.Country.ISOCode
		if len(rec.Subdivisions) > 0 && rec.Subdivisions[0].ISOCode != "" {
			pl.region = rec.Country.ISOCode + "-" + rec.Subdivisions[0].ISOCode
		}
	}
	m.mu.Lock()
	if m.cached < maxCachedPlaces {
		if _, loaded := m.places.LoadOrStore(res.Offset(), pl); !loaded {
			m.cached++
		}
	}
	m.mu.Unlock()
	return pl.country, pl.region, pl.country != ""
}

// Close releases the database.
func (m *MMDB) Close() error { return m.r.Close() }
