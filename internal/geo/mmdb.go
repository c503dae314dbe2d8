package geo

import (
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
)

// MMDB reads a MaxMind-format database (GeoLite2 or DB-IP, country or city).
type MMDB struct{ r *maxminddb.Reader }

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
	var rec mmdbRecord
	if err := m.r.Lookup(ip).Decode(&rec); err != nil || rec.Country.ISOCode == "" {
		return "", "", false
	}
	if len(rec.Subdivisions) > 0 && rec.Subdivisions[0].ISOCode != "" {
		region = rec.Country.ISOCode + "-" + rec.Subdivisions[0].ISOCode
	}
	return rec.Country.ISOCode, region, true
}

// Close releases the database.
func (m *MMDB) Close() error { return m.r.Close() }
