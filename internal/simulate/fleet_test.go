package simulate

import (
	"bytes"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

// Every event the fleet makes encodes with its kind's raw schema and passes
// validation, and every kind appears.
func TestFleetMakesValidEventsOfEveryKind(t *testing.T) {
	reg := schemas.MustLoad()
	for _, canary := range []bool{false, true} {
		f := NewFleet(Config{Installations: 50, Seed: 3, Canary: canary})
		seen := map[string]int{}
		for i := 0; i < 5000; i++ {
			kind, rec := f.Next()
			s := reg.Latest(schemas.Raw, kind)
			if s == nil {
				t.Fatalf("kind %q has no raw schema", kind)
			}
			want, err := s.Encode(nil, rec)
			if err != nil {
				t.Fatalf("%s event does not encode: %v\n%v", kind, err, rec)
			}
			// producer simulate encodes with the flat codec: same bytes as goavro.
			flat, err := s.ToFlat(rec)
			if err != nil {
				t.Fatalf("%s event: ToFlat: %v", kind, err)
			}
			if got, err := s.AppendFlat(nil, flat); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s event: flat encoding differs from goavro's (err %v)\n%v", kind, err, rec)
			}
			if err := schemas.Validate(rec, time.Now()); err != nil {
				t.Fatalf("%s event is invalid: %v", kind, err)
			}
			seen[kind]++
		}
		for _, kind := range reg.Kinds() {
			if seen[kind] == 0 {
				t.Errorf("canary=%v: no %s event in 5000", canary, kind)
			}
		}
	}
}

func TestCanaryFieldsCoverEveryDroppedOrPseudonymizedString(t *testing.T) {
	cf := CanaryFields()
	for _, want := range []struct{ kind, field string }{
		{"playback", "file_path"}, {"playback", "installation_id"}, {"playback", "client_ip"},
		{"crash", "stack_trace"}, {"marketing", "email"}, {"integration", "webhook_url"}, {"serverinfo", "server_name"},
	} {
		found := false
		for _, f := range cf[want.kind] {
			found = found || f == want.field
		}
		if !found {
			t.Errorf("%s.%s carries no canary", want.kind, want.field)
		}
	}
}

// BenchmarkFleetNext is the cost of making one event, the load generator's
// share of each event in scripts/bench.
func BenchmarkFleetNext(b *testing.B) {
	f := NewFleet(Config{Installations: 500, Seed: 1})
	b.ReportAllocs()
	for b.Loop() {
		f.Next()
	}
}
