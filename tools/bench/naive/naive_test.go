package naive

import (
	"reflect"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

// The zero of every field of every schema is the zero of its type in goavro's
// native form, and a record of zeros encodes and decodes back unchanged.
func TestZeroValueOfEachFieldType(t *testing.T) {
	want := map[schemas.FieldType]any{
		schemas.TString: "", schemas.TLong: int64(0), schemas.TInt: int32(0), schemas.TBoolean: false,
		schemas.TTimestamp: time.Unix(0, 0).UTC(),
	}
	seen := map[schemas.FieldType]bool{}
	reg := schemas.MustLoad()
	for _, s := range reg.All() {
		rec := map[string]any{}
		for i, f := range s.Fields {
			got, err := Zero(s, i)
			if err != nil {
				t.Fatalf("%s.%s: %v", s.Name, f.Name, err)
			}
			w, ok := want[s.Type(i)]
			if s.Type(i) == schemas.TEnum {
				w, ok = s.Symbols(i)[0], true
			}
			if !ok || !reflect.DeepEqual(got, w) {
				t.Errorf("%s.%s: Zero = %#v, want %#v", s.Name, f.Name, got, w)
			}
			seen[s.Type(i)] = true
			rec[f.Name] = got
		}
		msg, err := s.Encode(nil, rec)
		if err != nil {
			t.Fatalf("%s: goavro cannot encode the zeros: %v", s.Name, err)
		}
		if _, back, err := reg.Decode(msg); err != nil || !reflect.DeepEqual(back, rec) {
			t.Errorf("%s: zeros decode to %#v, %v; want %#v", s.Name, back, err, rec)
		}
	}
	if len(seen) != len(want)+1 {
		t.Errorf("the schemas use types %v; the test covers %d", seen, len(want)+1)
	}
}
