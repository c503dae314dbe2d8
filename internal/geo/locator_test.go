package geo_test

import (
	"testing"

	"github.com/veiltelemetry/veil/internal/geo"
)

// TestLocatorWithMMDB runs Locate through a database written by WriteMMDB and read
// by MMDB, as the enricher does.
func TestLocatorWithMMDB(t *testing.T) {
	db, _ := tinyDB(t,
		rng("85.214.0.0", "85.214.255.255", "DE", "BE"),                         // Berlin
		rng("2a01:4f8::", "2a01:4f8:ffff:ffff:ffff:ffff:ffff:ffff", "DE", "BY"), // Bavaria
		rng("193.2.0.0", "193.2.255.255", "SI", "163"),                          // Jezersko, a municipality
		rng("8.8.8.0", "8.8.8.255", "US", "CA"),
		rng("2001:4860::", "2001:4860:ffff:ffff:ffff:ffff:ffff:ffff", "US", "CA"),
		rng("73.0.0.0", "73.255.255.255", "US", ""), // the US, no state
		rng("136.145.0.0", "136.145.255.255", "PR", ""),
		rng("24.244.0.0", "24.244.255.255", "CA", "NU"), // Nunavut, about 40,000 people
		rng("99.224.0.0", "99.224.255.255", "CA", "ON"),
		rng("2a02:2e0::", "2a02:2e0:ffff:ffff:ffff:ffff:ffff:ffff", "IT", "23"), // Valle d'Aosta
		rng("81.2.69.0", "81.2.69.255", "GB", "ENG"),
		rng("81.2.70.0", "81.2.70.255", "GB", "eng"),
		rng("81.2.71.0", "81.2.71.255", "GB", "GB-ENG"),
		rng("81.2.72.0", "81.2.72.255", "GB", "ENGL"),
		rng("81.2.73.0", "81.2.73.255", "GB", "E G"),
		rng("81.2.74.0", "81.2.74.255", "GB", "LND"), // the City of London, a second-level code
		rng("2a0a:a540::", "2a0a:a540:ffff:ffff:ffff:ffff:ffff:ffff", "de", "BE"),
		rng("2a0a:a541::", "2a0a:a541:ffff:ffff:ffff:ffff:ffff:ffff", "Germany", "BE"),
	)
	tests := []struct {
		name, ip, zip, country, region string
	}{
		// A zip code counts only where the IP address says the US or nothing.
		{"a German IP with a Berlin postal code stays in Berlin", "85.214.1.1", "10115", "DE", "DE-BE"},
		{"a German IPv6 address with a postal code ignores the code", "2a01:4f8::1", "10115", "DE", "DE-BY"},
		{"a German IPv6 address gives its Land", "2a01:4f8::1", "", "DE", "DE-BY"},
		{"an IPv4-mapped German address is looked up as IPv4", "::ffff:85.214.1.1", "", "DE", "DE-BE"},
		{"a zone on an IPv6 address is ignored", "2a01:4f8::1%eth0", "", "DE", "DE-BY"},
		{"a Puerto Rico IP ignores a New York zip", "136.145.1.1", "10027", "PR", ""},
		{"a US IP with a zip gives the zip's state", "73.1.2.3", "10027", "US", "US-NY"},
		{"a US IP in California with a Texas zip gives Texas", "8.8.8.8", "75201", "US", "US-TX"},
		{"a US IPv6 address with an Illinois zip gives Illinois", "2001:4860:4860::8888", "60614", "US", "US-IL"},
		{"a US IPv6 address without a zip keeps the database's state", "2001:4860:4860::8888", "", "US", "US-CA"},
		{"a US IP without a zip keeps the database's state", "8.8.8.8", "", "US", "US-CA"},
		{"a US IP with a malformed zip keeps the database's state", "8.8.8.8", "1002", "US", "US-CA"},
		{"a US IP with a military zip keeps the database's state", "8.8.8.8", "09001", "US", "US-CA"},
		{"a US IP without a state or a zip gives the country", "73.1.2.3", "", "US", ""},
		{"a US IP with a Puerto Rico zip gives Puerto Rico", "73.1.2.3", "00601", "PR", ""},
		{"an IP the database lacks leaves the zip to decide", "81.2.99.1", "10027", "US", "US-NY"},
		{"an IP the database lacks, without a zip, is unknown", "81.2.99.1", "", "", ""},
		{"an unparsable IP leaves the zip to decide", "not-an-ip", "94110", "US", "US-CA"},
		{"no IP leaves the zip to decide", "", "10027", "US", "US-NY"},
		{"no IP and a Guam zip give Guam", "", "96910", "GU", ""},
		{"no IP and no zip are unknown", "", "", "", ""},
		// A region is kept only when it is large.
		{"a Slovenian municipality is reduced to the country", "193.2.1.1", "", "SI", ""},
		{"a Slovenian IP with a zip that looks American ignores the zip", "193.2.1.1", "10027", "SI", ""},
		{"Nunavut is too small: the country alone is kept", "24.244.1.1", "", "CA", ""},
		{"Ontario is kept", "99.224.1.1", "", "CA", "CA-ON"},
		{"Valle d'Aosta is too small: the country alone is kept", "2a02:2e0::1", "", "IT", ""},
		{"England is kept", "81.2.69.160", "", "GB", "GB-ENG"},
		{"a second-level code is dropped", "81.2.74.1", "", "GB", ""},
		// What the database says is checked.
		{"a lowercase subdivision is dropped", "81.2.70.1", "", "GB", ""},
		{"a subdivision that repeats the country is dropped", "81.2.71.1", "", "GB", ""},
		{"a subdivision of four characters is dropped", "81.2.72.1", "", "GB", ""},
		{"a subdivision with a space is dropped", "81.2.73.1", "", "GB", ""},
		{"a lowercase country counts as unknown", "2a0a:a540::1", "", "", ""},
		{"a country name instead of a code counts as unknown", "2a0a:a541::1", "", "", ""},
	}
	l := geo.Locator{IPs: db}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, r := l.Locate(tt.ip, tt.zip); c != tt.country || r != tt.region {
				t.Errorf("Locate(%q, %q) = %q, %q; want %q, %q", tt.ip, tt.zip, c, r, tt.country, tt.region)
			}
		})
	}
	t.Run("without a database a zip decides and an IP is unknown", func(t *testing.T) {
		var none geo.Locator
		if c, r := none.Locate("85.214.1.1", "94110"); c != "US" || r != "US-CA" {
			t.Errorf("Locate with a zip = %q, %q; want US, US-CA", c, r)
		}
		if c, r := none.Locate("85.214.1.1", ""); c != "" || r != "" {
			t.Errorf("Locate without a zip = %q, %q; want unknown", c, r)
		}
	})
}
