package geo

import "net/netip"

// IPDatabase resolves an address to an ISO country code and an ISO 3166-2 region
// code (or "" when the database has no subdivision).
type IPDatabase interface {
	Lookup(ip netip.Addr) (country, region string, ok bool)
}

// Locator implements the privacy policy's Locator. The postal code, when valid, is
// the better source of the region (users type it for local listings); the IP
// database supplies the country otherwise.
type Locator struct {
	IPs IPDatabase // optional
}

// Locate returns a country and a coarse region, "" where unknown.
func (l Locator) Locate(ip, zip string) (country, region string) {
	if zip != "" {
		if st := ZipState(zip); st != "" {
			switch st {
			case "PR", "VI", "GU": // territories have their own ISO country codes
				return st, ""
			}
			return "US", "US-" + st
		}
	}
	if l.IPs == nil || ip == "" {
		return "", ""
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "", ""
	}
	if c, r, ok := l.IPs.Lookup(addr.Unmap()); ok {
		return c, r
	}
	return "", ""
}
