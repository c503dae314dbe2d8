package geo

import "net/netip"

// IPDatabase resolves an address to an ISO country code and an ISO 3166-2 region
// code (or "" when the database has no subdivision). Locator checks and coarsens
// what it returns; an implementation need not.
type IPDatabase interface {
	Lookup(ip netip.Addr) (country, region string, ok bool)
}

// Locator implements the privacy policy's Locator.
type Locator struct {
	IPs IPDatabase // optional
}

// Locate returns a country and a coarse region, "" where unknown. The IP address
// (IPv4 or IPv6) decides the country when the database knows it; the zip code is
// a US ZIP code and counts only where the IP address says the US or says nothing
// (no address, an unparsable one, no database, or no entry in it):
//
//   - the IP address says the US: a zip code that names a state gives the region
//     (users type it for local listings, so it is the better source); one that
//     names Puerto Rico, the US Virgin Islands or Guam gives that country, with no
//     region, as ISO 3166-1 codes them.
//   - the IP address says another country: the zip code is ignored, so that a
//     German postal code such as 10115 never becomes New York.
//   - the IP address says nothing: the zip code decides as above.
//
// Whatever the source, a region is kept only when CoarseRegion keeps it: a large
// first-level subdivision of its own country. Every other region, and a country
// that is not two uppercase letters, is dropped.
func (l Locator) Locate(ip, zip string) (country, region string) {
	country, region = l.lookup(ip)
	if country == "" || country == "US" {
		if st := ZipState(zip); st != "" {
			switch st {
			case "PR", "VI", "GU": // territories have their own ISO country codes
				return st, ""
			}
			return "US", "US-" + st
		}
	}
	return country, CoarseRegion(country, region)
}

// lookup returns what the IP database says of ip, or "", "" when ip is empty or
// unparsable, there is no database, or it has no well-formed country for ip.
// IPv4-mapped IPv6 addresses are looked up as IPv4, and zones are ignored.
func (l Locator) lookup(ip string) (country, region string) {
	if l.IPs == nil || ip == "" {
		return "", ""
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "", ""
	}
	c, r, ok := l.IPs.Lookup(addr.Unmap().WithZone(""))
	if !ok || !validCountry(c) {
		return "", ""
	}
	return c, r
}
