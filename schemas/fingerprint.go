package schemas

import (
	"encoding/binary"
	"fmt"
)

// Rabin returns the CRC-64-AVRO (Rabin) fingerprint of buf, as the Avro
// specification defines it: the fingerprint of a schema is Rabin of its Parsing
// Canonical Form in UTF-8.
func Rabin(buf []byte) uint64 {
	fp := rabinEmpty
	for _, b := range buf {
		fp = fp>>8 ^ rabinTable[byte(fp)^b]
	}
	return fp
}

// rabinEmpty is the fingerprint of no bytes, and the polynomial the table is built from.
const rabinEmpty uint64 = 0xc15d213aa4d7a795

var rabinTable = func() (t [256]uint64) {
	for i := range t {
		fp := uint64(i)
		for range 8 {
			fp = fp>>1 ^ (rabinEmpty & -(fp & 1))
		}
		t[i] = fp
	}
	return t
}()

// setFingerprints sets s.Fingerprint (the specification's) and s.LegacyFingerprint
// (goavro's form) from the schema text and s.Codec, and the header written with s.
func (s *Schema) setFingerprints(text []byte) error {
	canonical, err := CanonicalForm(text)
	if err != nil {
		return err
	}
	s.Canonical = canonical
	s.Fingerprint = Rabin([]byte(canonical))
	s.LegacyFingerprint = s.Codec.Rabin
	s.header[0], s.header[1] = 0xC3, 0x01
	binary.LittleEndian.PutUint64(s.header[2:], s.Fingerprint)
	return nil
}

// register indexes s under both its fingerprints. Every fingerprint selects one
// schema: one already taken, by either kind, is an error.
func (r *Registry) register(s *Schema) error {
	for _, fp := range []uint64{s.Fingerprint, s.LegacyFingerprint} {
		if prev, dup := r.byFP[fp]; dup && prev != s {
			return fmt.Errorf("schemas: %s and %s have the same fingerprint %016x", prev.File, s.File, fp)
		}
		r.byFP[fp] = s
	}
	r.all = append(r.all, s)
	return nil
}
