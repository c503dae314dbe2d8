package dedup

import "crypto/sha256"

// ID is an event id as the index keeps it: the 16 bytes of a UUID.
type ID [16]byte

// IDOf returns the index form of an event id. Event ids are UUIDs in their
// canonical lowercase form (the collector refuses others and the enricher
// dead-letters them), which map onto their 16 bytes one to one. Anything else is
// kept as the first 16 bytes of its SHA-256, so the index never fails on an id;
// two such ids, or one and a UUID, share an ID only with probability 2⁻¹²⁸.
func IDOf(s string) ID {
	var id ID
	if parseUUID(s, &id) {
		return id
	}
	sum := sha256.Sum256([]byte(s))
	copy(id[:], sum[:16])
	return id
}

// parseUUID parses the canonical form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx in
// lowercase hexadecimal, and nothing else: a second spelling of the same bytes
// (uppercase, braces, a urn: prefix) is another event id in ClickHouse, so it
// must not share the index entry.
func parseUUID(s string, id *ID) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
		}
		hi, ok1 := nibble(s[i])
		lo, ok2 := nibble(s[i+1])
		if !ok1 || !ok2 {
			return false
		}
		id[j] = hi<<4 | lo
		j++
	}
	return true
}

func nibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
