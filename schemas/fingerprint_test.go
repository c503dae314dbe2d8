package schemas_test

import (
	"math/rand/v2"
	"testing"

	"github.com/veiltelemetry/veil/schemas"
)

// Fingerprints Avro Java 1.12.2 computes with SchemaNormalization.parsingFingerprint64
// (printed as unsigned hex), and the fingerprint of no input, which the
// specification names EMPTY.
func TestRabinMatchesAvroJava(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"", 0xc15d213aa4d7a795},
		{`"null"`, 0x63dd24e7cc258f8a}, // 7195948357588979594 as Java's signed long
		{`"string"`, 0x8f014872634503c7},
		{`"int"`, 0x7275d51a3f395c8f},
		{`"long"`, 0xd054e14493f41db7},
		{`["null","long","string"]`, 0xbff7a93c0bd60547},
		{`{"name":"x.y.Money","type":"fixed","size":8}`, 0xa90b0a9b48399bbe},
	}
	for _, tt := range tests {
		if got := schemas.Rabin([]byte(tt.in)); got != tt.want {
			t.Errorf("Rabin(%s) = %016x, want %016x", tt.in, got, tt.want)
		}
	}
}

// goavro computes the same CRC-64-AVRO, over its own canonical form: the legacy
// fingerprint is Rabin of that form.
func TestRabinAgreesWithGoavroOnItsCanonicalForm(t *testing.T) {
	for _, s := range schemas.MustLoad().All() {
		if got := schemas.Rabin([]byte(s.Codec.CanonicalSchema())); got != s.Codec.Rabin || got != s.LegacyFingerprint {
			t.Errorf("%s: Rabin(goavro's form) = %016x, goavro's Rabin %016x, LegacyFingerprint %016x; want all equal",
				s.File, got, s.Codec.Rabin, s.LegacyFingerprint)
		}
	}
}

// The table-driven Rabin is the bit-at-a-time CRC-64-AVRO it is derived from.
func TestRabinIsTheBitwiseCRC(t *testing.T) {
	const empty = 0xc15d213aa4d7a795
	bitwise := func(buf []byte) uint64 {
		fp := uint64(empty)
		for _, b := range buf {
			fp ^= uint64(b)
			for range 8 {
				fp = fp>>1 ^ (empty & -(fp & 1))
			}
		}
		return fp
	}
	r := rand.New(rand.NewPCG(1, 2))
	inputs := [][]byte{nil}
	for b := range 256 {
		inputs = append(inputs, []byte{byte(b)}, []byte{byte(b), byte(255 - b), byte(b * 7)})
	}
	for range 100 {
		buf := make([]byte, r.IntN(200))
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		inputs = append(inputs, buf)
	}
	for _, in := range inputs {
		if got, want := schemas.Rabin(in), bitwise(in); got != want {
			t.Fatalf("Rabin(% x) = %016x, bit-at-a-time CRC %016x", in, got, want)
		}
	}
}
