package geo

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
)

func TestCoarseRegion(t *testing.T) {
	tests := []struct {
		name, country, region string
		kept                  bool
	}{
		{"a US state is kept", "US", "US-NY", true},
		{"Wyoming, the smallest state, is kept", "US", "US-WY", true},
		{"the District of Columbia is kept", "US", "US-DC", true},
		{"Puerto Rico as a US region is dropped: it is a country of its own", "US", "US-PR", false},
		{"a German Land is kept", "DE", "DE-BE", true},
		{"Bremen, the smallest Land, is kept", "DE", "DE-HB", true},
		{"a Canadian province is kept", "CA", "CA-QC", true},
		{"Prince Edward Island is dropped", "CA", "CA-PE", false},
		{"Nunavut is dropped", "CA", "CA-NU", false},
		{"Yukon is dropped", "CA", "CA-YT", false},
		{"the Northwest Territories are dropped", "CA", "CA-NT", false},
		{"Tasmania is kept", "AU", "AU-TAS", true},
		{"the Australian Capital Territory is dropped", "AU", "AU-ACT", false},
		{"Roraima, the smallest Brazilian state, is kept", "BR", "BR-RR", true},
		{"Mexico City is kept", "MX", "MX-CMX", true},
		{"Delhi is kept", "IN", "IN-DL", true},
		{"Chhattisgarh is kept under its current code", "IN", "IN-CG", true},
		{"Chhattisgarh is kept under its former code", "IN", "IN-CT", true},
		{"Lakshadweep is dropped", "IN", "IN-LD", false},
		{"Ladakh is dropped", "IN", "IN-LA", false},
		{"the Andaman and Nicobar Islands are dropped", "IN", "IN-AN", false},
		{"Vienna is kept", "AT", "AT-9", true},
		{"Vorarlberg is dropped", "AT", "AT-8", false},
		{"Burgenland is dropped", "AT", "AT-1", false},
		{"Madrid is kept", "ES", "ES-MD", true},
		{"Ceuta is dropped", "ES", "ES-CE", false},
		{"Melilla is dropped", "ES", "ES-ML", false},
		{"La Rioja is dropped", "ES", "ES-RI", false},
		{"Lombardy is kept", "IT", "IT-25", true},
		{"Valle d'Aosta is dropped", "IT", "IT-23", false},
		{"Molise is dropped", "IT", "IT-67", false},
		{"an Italian province is dropped", "IT", "IT-MI", false},
		{"Île-de-France is kept", "FR", "FR-IDF", true},
		{"Corsica is dropped", "FR", "FR-20R", false},
		{"Corsica under its former code is dropped", "FR", "FR-COR", false},
		{"a French department is dropped", "FR", "FR-75", false},
		{"La Réunion as a French region is dropped: it is a country of its own", "FR", "FR-RE", false},
		{"Northern Ireland is kept", "GB", "GB-NIR", true},
		{"the City of London, a second-level code, is dropped", "GB", "GB-LND", false},
		{"Tokyo is kept", "JP", "JP-13", true},
		{"Tottori, the smallest prefecture, is kept", "JP", "JP-31", true},
		{"Tibet is kept", "CN", "CN-XZ", true},
		{"Hong Kong as a Chinese region is dropped: it is a country of its own", "CN", "CN-HK", false},
		{"Flanders is kept", "BE", "BE-VLG", true},
		{"a Belgian province is dropped", "BE", "BE-VAN", false},
		{"Zeeland is dropped", "NL", "NL-ZE", false},
		{"Drenthe, at the floor, is dropped", "NL", "NL-DR", false},
		{"Masovia is kept by number", "PL", "PL-14", true},
		{"Masovia is kept by its former letters", "PL", "PL-MZ", true},
		{"Buenos Aires City is kept", "AR", "AR-C", true},
		{"Tierra del Fuego is dropped", "AR", "AR-V", false},
		{"Gauteng is kept", "ZA", "ZA-GP", true},
		{"a Slovenian municipality is dropped", "SI", "SI-163", false},
		{"a Swiss canton is dropped: Switzerland has no table", "CH", "CH-ZH", false},
		{"a region of another country is dropped", "DE", "US-NY", false},
		{"a lowercase region is dropped", "US", "us-ny", false},
		{"a lowercase country is dropped", "us", "US-NY", false},
		{"a region without a hyphen is dropped", "US", "USNY", false},
		{"a region with nothing after the hyphen is dropped", "US", "US-", false},
		{"a region of four characters is dropped", "GB", "GB-ENGL", false},
		{"a region with a trailing space is dropped", "US", "US-NY ", false},
		{"the empty region is dropped", "US", "", false},
		{"no country and no region give nothing", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := ""
			if tt.kept {
				want = tt.region
			}
			if got := CoarseRegion(tt.country, tt.region); got != want {
				t.Errorf("CoarseRegion(%q, %q) = %q, want %q", tt.country, tt.region, got, want)
			}
		})
	}
}

// TestCoarseRegionsTableIsWellFormed checks what a typo in regions.go could break:
// every code is a well-formed region of its country, none is listed twice, and
// none is both kept and excluded.
func TestCoarseRegionsTableIsWellFormed(t *testing.T) {
	for cc, tbl := range coarseRegions {
		if !validCountry(cc) {
			t.Errorf("%q is not a country code", cc)
		}
		seen := map[string]string{}
		for list, codes := range map[string]string{"keep": tbl.keep, "exclude": tbl.exclude} {
			for _, sub := range strings.Fields(codes) {
				if !wellFormedRegion(cc, cc+"-"+sub) {
					t.Errorf("%s %s: %q is not a well-formed subdivision code", cc, list, sub)
				}
				if other, dup := seen[sub]; dup {
					t.Errorf("%s: %s is in %s and in %s", cc, sub, other, list)
				}
				seen[sub] = list
			}
		}
		if strings.TrimSpace(tbl.keep) == "" {
			t.Errorf("%s keeps no region: leave the country out of the table instead", cc)
		}
	}
}

func TestCoarseRegionsKeepTheUSStatesAndDC(t *testing.T) {
	if n := len(strings.Fields(coarseRegions["US"].keep)); n != 51 {
		t.Errorf("US keeps %d regions, want the 50 states and DC", n)
	}
	// Every state a ZIP code can name is kept, so that a zip's state is never
	// something the IP database could not give.
	for _, z := range zip3 {
		switch z.state {
		case "", "PR", "VI", "GU":
			continue
		}
		if CoarseRegion("US", "US-"+z.state) == "" {
			t.Errorf("ZIP prefix %03d names %s, which the table does not keep", z.lo, z.state)
		}
	}
}

// renamedCodes are kept codes that the ISO 3166-2 list installed by iso-codes may
// not hold, because ISO replaced them or replaced others with them.
var renamedCodes = map[string]string{
	"IN": "CG CT OD OR TS TG UK UT",                         // changed in 2023
	"PL": "DS KP LU LB LD MA MZ OP PK PD PM SL SK WN WP ZP", // letters before the numbers
	"ZA": "GT NL",                                           // Gauteng and KwaZulu-Natal before GP and KZN
}

// isoCodesFile is Debian's iso-codes list of ISO 3166-2 subdivisions (scripts/test
// installs it).
const isoCodesFile = "/usr/share/iso-codes/json/iso_3166-2.json"

// TestCoarseRegionsMatchISO3166 checks the table against ISO 3166-2: every
// first-level subdivision of a listed country is decided on (kept or excluded),
// and every kept code is a first-level subdivision of its country (or a renamed
// one, see renamedCodes).
func TestCoarseRegionsMatchISO3166(t *testing.T) {
	data, err := os.ReadFile(isoCodesFile)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: install Debian's iso-codes (scripts/test does)", err)
		}
		t.Skipf("%v: skipping the check against ISO 3166-2 (apt-get install iso-codes, or run scripts/test)", err)
	}
	var doc struct {
		Subdivisions []struct {
			Code   string `json:"code"`
			Parent string `json:"parent"`
		} `json:"3166-2"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", isoCodesFile, err)
	}
	firstLevel := map[string]map[string]bool{} // country → subdivision codes
	for _, s := range doc.Subdivisions {
		cc, sub, ok := strings.Cut(s.Code, "-")
		if !ok || s.Parent != "" {
			continue
		}
		if firstLevel[cc] == nil {
			firstLevel[cc] = map[string]bool{}
		}
		firstLevel[cc][sub] = true
	}
	if len(firstLevel["US"]) < 51 {
		t.Fatalf("%s lists %d first-level US subdivisions; is it the ISO 3166-2 list?", isoCodesFile, len(firstLevel["US"]))
	}
	for cc, tbl := range coarseRegions {
		decided := map[string]bool{}
		for _, sub := range strings.Fields(tbl.keep + " " + tbl.exclude) {
			decided[sub] = true
		}
		var missing []string
		for sub := range firstLevel[cc] {
			if !decided[sub] {
				missing = append(missing, sub)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s: ISO 3166-2 subdivisions %v are neither kept nor excluded", cc, missing)
		}
		renamed := map[string]bool{}
		for _, sub := range strings.Fields(renamedCodes[cc]) {
			renamed[sub] = true
		}
		for _, sub := range strings.Fields(tbl.keep) {
			if !firstLevel[cc][sub] && !renamed[sub] {
				t.Errorf("%s keeps %s, which is no first-level subdivision in ISO 3166-2", cc, sub)
			}
		}
	}
}
