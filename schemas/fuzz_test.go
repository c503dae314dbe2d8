package schemas_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/veiltelemetry/veil/schemas"
)

// FuzzDecode checks that Decode never panics, that every failure is one of the three
// sentinel errors the enricher branches on, and that whatever it accepts encodes
// back into a message that decodes to the same record.
func FuzzDecode(f *testing.F) {
	reg, _, _, msg := sampleMessage(f)
	f.Add(msg)
	for _, n := range []int{0, 1, 2, 9, 10, 11, len(msg) / 2, len(msg) - 1} {
		f.Add(msg[:n])
	}
	f.Add(append(append([]byte(nil), msg...), 0))
	// The header followed by a string length far beyond the input.
	f.Add(append(append([]byte(nil), msg[:10]...), 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01))

	f.Fuzz(func(t *testing.T, data []byte) {
		s, rec, err := reg.Decode(data)
		if err != nil {
			if !errors.Is(err, schemas.ErrNotSingleObject) && !errors.Is(err, schemas.ErrUnknownFingerprint) && !errors.Is(err, schemas.ErrMalformed) {
				t.Fatalf("Decode error %v matches none of the sentinel errors", err)
			}
			if rec != nil {
				t.Fatalf("Decode returned a record with error %v", err)
			}
			return
		}
		if s == nil || rec == nil {
			t.Fatalf("Decode succeeded without a schema (%v) or a record (%v)", s, rec)
		}
		again, err := s.Encode(nil, rec)
		if err != nil {
			t.Fatalf("a record Decode accepted does not encode: %v", err)
		}
		_, back, err := reg.Decode(again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(back, rec) {
			t.Fatalf("re-encoding changed the record:\n got %#v\nwant %#v", back, rec)
		}
	})
}
