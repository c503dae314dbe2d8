package geo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"go4.org/netipx"
)

// Range is one contiguous block of addresses, Low to High inclusive, of one family,
// located in Country (ISO 3166-1 alpha-2, "" when unknown) and optionally in
// Subdivision (the ISO 3166-2 code without the country, e.g. "ENG" in GB-ENG).
type Range struct {
	Low, High   netip.Addr
	Country     string
	Subdivision string
}

// notCountries are codes that registries and older GeoIP files use for addresses
// of no single country: unknown, Europe, Asia/Pacific, anonymous proxy, satellite,
// other. A range with one of them is kept as unknown rather than invented.
var notCountries = map[string]bool{"??": true, "EU": true, "AP": true, "A1": true, "A2": true, "O1": true}

// countryCode normalizes a two-letter code: UK, reserved by ISO for the United
// Kingdom, becomes its assigned code GB; codes of no country become "".
func countryCode(s string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if notCountries[s] {
		return "", nil
	}
	if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return "", fmt.Errorf("country %q is not a two-letter code", s)
	}
	if s == "UK" {
		return "GB", nil
	}
	return s, nil
}

// parseAddr reads an address as Tor's geoip files write it: IPv4 as a decimal
// integer, IPv6 (and, for convenience, dotted IPv4) as text. An IPv4-mapped IPv6
// address counts as IPv4.
func parseAddr(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if s != "" && strings.Trim(s, "0123456789") == "" {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("address %q: not a 32-bit integer", s)
		}
		return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address %q: %w", s, err)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("address %q: zones are not allowed", s)
	}
	return a.Unmap(), nil
}

// ParseTorGeoIP reads a file in the format of Debian's tor-geoipdb package
// (/usr/share/tor/geoip for IPv4, /usr/share/tor/geoip6 for IPv6): one range a line
// as LOW,HIGH,CC, with # comments and blank lines ignored. Codes of no country (??,
// EU, AP…) give ranges with Country "". notes are the "Key: value" lines of the
// comment header (Vendor, License, Generated…), for the database description. A
// malformed line is an error naming its number: a half-read database is refused,
// not written.
func ParseTorGeoIP(r io.Reader) (ranges []Range, notes map[string]string, err error) {
	notes = map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if c, ok := strings.CutPrefix(line, "#"); ok {
			if k, v, ok := strings.Cut(c, ":"); ok && !strings.Contains(strings.TrimSpace(k), " ") {
				if k, v = strings.TrimSpace(k), strings.TrimSpace(v); k != "" && v != "" {
					notes[k] = v
				}
			}
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 3 {
			return nil, nil, fmt.Errorf("geo: line %d: want LOW,HIGH,CC, got %q", n, line)
		}
		lo, err := parseAddr(f[0])
		if err != nil {
			return nil, nil, fmt.Errorf("geo: line %d: %w", n, err)
		}
		hi, err := parseAddr(f[1])
		if err != nil {
			return nil, nil, fmt.Errorf("geo: line %d: %w", n, err)
		}
		if lo.Is4() != hi.Is4() || hi.Less(lo) {
			return nil, nil, fmt.Errorf("geo: line %d: %s-%s is not a range", n, lo, hi)
		}
		cc, err := countryCode(f[2])
		if err != nil {
			return nil, nil, fmt.Errorf("geo: line %d: %w", n, err)
		}
		ranges = append(ranges, Range{Low: lo, High: hi, Country: cc})
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("geo: read: %w", err)
	}
	return ranges, notes, nil
}

// MMDBOptions describe the database WriteMMDB writes.
type MMDBOptions struct {
	Description string    // metadata description in English; default names the format only
	Built       time.Time // build time recorded in the metadata; default now
}

// BuildStats counts what WriteMMDB did with its ranges.
type BuildStats struct {
	Ranges   int   // ranges written with a country
	Unknown  int   // ranges without a country, left out (lookups there find nothing)
	Reserved int   // CIDR blocks left out because they lie in a reserved network (private, documentation, multicast…) or an IPv4 alias (::ffff:0:0/96, 6to4, Teredo); the reserved part of a larger block is left out without being counted
	Bytes    int64 // size of the database written
}

// DatabaseType is the database_type of the databases this package writes. The
// records have the layout of a MaxMind country database (country.iso_code,
// subdivisions[0].iso_code), so any MMDB reader understands them.
const DatabaseType = "Veil-Country"

// WriteMMDB writes an IPv6 MaxMind DB (which also answers IPv4 lookups, including
// IPv4-mapped addresses) holding the country and subdivision of every range. Later
// ranges win where ranges overlap. Parts of ranges that fall in reserved or IPv4
// alias networks are left out and counted, not an error; a failed write is
// returned and w may hold part of a database.
func WriteMMDB(w io.Writer, ranges []Range, opts MMDBOptions) (BuildStats, error) {
	var st BuildStats
	desc := opts.Description
	if desc == "" {
		desc = "Country of IP address ranges"
	}
	built := opts.Built
	if built.IsZero() {
		built = time.Now()
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: DatabaseType,
		Description:  map[string]string{"en": desc},
		Languages:    []string{"en"},
		RecordSize:   24,
		BuildEpoch:   built.Unix(),
	})
	if err != nil {
		return st, fmt.Errorf("geo: new database: %w", err)
	}
	values := map[[2]string]mmdbtype.Map{} // one value per country and subdivision
	for _, r := range ranges {
		if r.Country == "" {
			st.Unknown++
			continue
		}
		key := [2]string{r.Country, r.Subdivision}
		v, ok := values[key]
		if !ok {
			v = mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(r.Country)}}
			if r.Subdivision != "" {
				v["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(r.Subdivision)}}
			}
			values[key] = v
		}
		lo, hi := r.Low.Unmap(), r.High.Unmap()
		rg := netipx.IPRangeFrom(lo, hi)
		if !rg.IsValid() {
			return st, fmt.Errorf("geo: %s-%s is not a range", r.Low, r.High)
		}
		for _, p := range rg.Prefixes() {
			err := tree.Insert(netipx.PrefixIPNet(p), v)
			var reserved *mmdbwriter.ReservedNetworkError
			var aliased *mmdbwriter.AliasedNetworkError
			switch {
			case errors.As(err, &reserved), errors.As(err, &aliased):
				st.Reserved++
			case err != nil:
				return st, fmt.Errorf("geo: insert %s (%s): %w", p, r.Country, err)
			}
		}
		st.Ranges++
	}
	n, err := tree.WriteTo(w)
	st.Bytes = n
	if err != nil {
		return st, fmt.Errorf("geo: write database: %w", err)
	}
	return st, nil
}

// BuildMMDB reads every source in the tor-geoipdb format (see ParseTorGeoIP) and
// writes one database of all their ranges to w, returning how many ranges it holds.
func BuildMMDB(w io.Writer, sources ...io.Reader) (ranges int, err error) {
	var all []Range
	for i, src := range sources {
		rs, _, err := ParseTorGeoIP(src)
		if err != nil {
			return 0, fmt.Errorf("source %d: %w", i+1, err)
		}
		all = append(all, rs...)
	}
	st, err := WriteMMDB(w, all, MMDBOptions{})
	return st.Ranges, err
}
