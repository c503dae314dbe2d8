// Package geo coarsens a location. An IP address (IPv4 or IPv6) becomes a country
// and a region through an optional IP database (see MMDB); a US ZIP code becomes a
// state (ISO 3166-2, e.g. US-NY) from its three-digit prefix, and is used only when
// the IP address is in the US or its country is unknown. A region is kept only
// where it is a large first-level subdivision (a state, province or large region of
// at least about 500,000 inhabitants) of a country listed in the table of
// regions.go; elsewhere only the country is kept. Nothing finer ever leaves this
// package, and the caller drops the inputs afterwards.
package geo
