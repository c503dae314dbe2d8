package geo_test

import (
	"flag"
	"net/netip"
	"reflect"
	"testing"

	"github.com/veiltelemetry/veil/internal/geo"
)

// This package has no golden files; it accepts -update so that the project-wide
// go test ./... -update runs.
var _ = flag.Bool("update", false, "no effect in this package")

func TestZipState(t *testing.T) {
	tests := []struct {
		name, zip, want string
	}{
		{"Manhattan is New York", "10027", "NY"},
		{"San Francisco is California", "94110", "CA"},
		{"Chicago is Illinois", "60614", "IL"},
		{"the Austin IRS code 733 is Texas, between Oklahoma prefixes", "73301", "TX"},
		{"Oklahoma City is Oklahoma", "73102", "OK"},
		{"Guymon, after the Texas prefix, is Oklahoma again", "73942", "OK"},
		{"Dallas is Texas", "75201", "TX"},
		{"El Paso's 885 is Texas", "88510", "TX"},
		{"Anchorage is Alaska", "99501", "AK"},
		{"the highest ZIP code is Alaska", "99950", "AK"},
		{"Cambridge with its leading zero is Massachusetts", "02139", "MA"},
		{"Honolulu is Hawaii", "96813", "HI"},
		{"Guam is Guam", "96910", "GU"},
		{"Adjuntas is Puerto Rico", "00601", "PR"},
		{"St. Thomas is the Virgin Islands", "00802", "VI"},
		{"Holtsville's IRS code 005 is New York", "00501", "NY"},
		{"Washington DC is DC", "20500", "DC"},
		{"military mail in Europe (APO AE) belongs to no state", "09001", ""},
		{"military mail in the Americas (APO AA) belongs to no state", "34001", ""},
		{"military mail in the Pacific (APO AP) belongs to no state", "96201", ""},
		{"the unassigned prefix 000 belongs to no state", "00001", ""},
		{"four digits are malformed", "1234", ""},
		{"letters are malformed", "abcde", ""},
		{"a letter among digits is malformed", "100a7", ""},
		{"the empty string is malformed", "", ""},
		{"ZIP+4 counts by its first five digits", "10027-1234", "NY"},
		{"six digits are malformed", "100271", ""},
		{"ZIP+4 without the dash is malformed", "100271234", ""},
		{"ZIP+4 with a space instead of a dash is malformed", "10027 1234", ""},
		{"a trailing space is malformed", "10027 ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := geo.ZipState(tt.zip); got != tt.want {
				t.Errorf("ZipState(%q) = %q, want %q", tt.zip, got, tt.want)
			}
		})
	}
}

// fakeIPs knows a few addresses and records what it was asked.
type fakeIPs struct{ asked []netip.Addr }

func (f *fakeIPs) Lookup(ip netip.Addr) (string, string, bool) {
	f.asked = append(f.asked, ip)
	switch ip {
	case netip.MustParseAddr("81.2.69.160"):
		return "GB", "GB-ENG", true
	case netip.MustParseAddr("2001:db8::1"):
		return "DE", "", true
	case netip.MustParseAddr("198.51.100.7"):
		return "Germany", "", true
	case netip.MustParseAddr("198.51.100.8"):
		return "DE", "US-NY", true
	}
	return "", "", false
}

func TestLocator(t *testing.T) {
	tests := []struct {
		name        string
		ips         bool // with the fake IP database
		ip, zip     string
		wantCountry string
		wantRegion  string
		wantAsked   []string
	}{
		{"a British IP ignores a US zip", true, "81.2.69.160", "10027", "GB", "GB-ENG", []string{"81.2.69.160"}},
		{"a valid zip needs no IP database", false, "", "94110", "US", "US-CA", nil},
		{"Puerto Rico is its own country without a region", true, "", "00601", "PR", "", nil},
		{"the Virgin Islands are their own country", true, "", "00802", "VI", "", nil},
		{"Guam is its own country", true, "", "96910", "GU", "", nil},
		{"a military zip leaves the IP to decide", true, "81.2.69.160", "09001", "GB", "GB-ENG", []string{"81.2.69.160"}},
		{"a malformed zip leaves the IP to decide", true, "81.2.69.160", "abcde", "GB", "GB-ENG", []string{"81.2.69.160"}},
		{"without a zip the IP decides", true, "81.2.69.160", "", "GB", "GB-ENG", []string{"81.2.69.160"}},
		{"an IPv4-mapped IPv6 address is looked up as IPv4", true, "::ffff:81.2.69.160", "", "GB", "GB-ENG", []string{"81.2.69.160"}},
		{"an IPv6 address without a subdivision gives only the country", true, "2001:db8::1", "", "DE", "", []string{"2001:db8::1"}},
		{"an IPv6 address is looked up without its zone", true, "2001:db8::1%eth0", "", "DE", "", []string{"2001:db8::1"}},
		{"an address the database lacks is unknown", true, "192.0.2.1", "", "", "", []string{"192.0.2.1"}},
		{"an address the database lacks leaves the zip to decide", true, "192.0.2.1", "10027", "US", "US-NY", []string{"192.0.2.1"}},
		{"a database answer that is no country code counts as unknown", true, "198.51.100.7", "", "", "", []string{"198.51.100.7"}},
		{"a database answer that is no country code leaves the zip to decide", true, "198.51.100.7", "60614", "US", "US-IL", []string{"198.51.100.7"}},
		{"a region of another country than the database's is dropped", true, "198.51.100.8", "", "DE", "", []string{"198.51.100.8"}},
		{"an unparsable IP is unknown and not looked up", true, "not-an-ip", "", "", "", nil},
		{"an unparsable IP leaves the zip to decide", true, "not-an-ip", "10027", "US", "US-NY", nil},
		{"no IP database means the IP is unknown", false, "81.2.69.160", "", "", "", nil},
		{"nothing at all is unknown", true, "", "", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l geo.Locator
			db := &fakeIPs{}
			if tt.ips {
				l.IPs = db
			}
			c, r := l.Locate(tt.ip, tt.zip)
			if c != tt.wantCountry || r != tt.wantRegion {
				t.Errorf("Locate(%q, %q) = %q, %q; want %q, %q", tt.ip, tt.zip, c, r, tt.wantCountry, tt.wantRegion)
			}
			var asked []string
			for _, a := range db.asked {
				asked = append(asked, a.String())
			}
			if !reflect.DeepEqual(asked, tt.wantAsked) {
				t.Errorf("IP database asked for %v, want %v", asked, tt.wantAsked)
			}
		})
	}
}
