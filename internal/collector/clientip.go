package collector

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP returns the address an event without client_ip is attributed to: the
// peer of the connection, or, when that peer is a trusted proxy, the nearest
// address in X-Forwarded-For that is not itself a trusted proxy (walking from the
// right, since a client can write anything on the left). With no trusted proxies
// configured the header is ignored. It returns "" when nothing parses.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := parseIP(r.RemoteAddr)
	if !peer.IsValid() {
		return ""
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := r.Header.Values("X-Forwarded-For")
	var list []string
	for _, h := range hops {
		list = append(list, strings.Split(h, ",")...)
	}
	for i := len(list) - 1; i >= 0; i-- {
		a := parseIP(strings.TrimSpace(list[i]))
		if !a.IsValid() {
			break // a malformed hop: nothing left of it can be trusted
		}
		if !isTrusted(a, trusted) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseIP reads "ip", "ip:port" or "[ipv6]:port", unmapping IPv4-in-IPv6 and
// dropping zones.
func parseIP(s string) netip.Addr {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
