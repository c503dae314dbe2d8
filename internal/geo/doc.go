// Package geo coarsens a location. A postal code becomes a country and a state
// (ISO 3166-2, e.g. US-NY) from its three-digit prefix; an IP address becomes a
// country and region through an optional IP database (see MMDB). Nothing finer than
// a state ever leaves this package, and the caller drops the inputs afterwards.
package geo
