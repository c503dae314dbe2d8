package simulate

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

// Every event the fleet makes encodes with its kind's raw schema and passes
// validation, and every kind appears. producer simulate writes the flat
// records as they are: their bytes must be goavro's for the same event.
func TestFleetMakesValidEventsOfEveryKind(t *testing.T) {
	reg := schemas.MustLoad()
	for _, canary := range []bool{false, true} {
		f := NewFleet(Config{Installations: 50, Seed: 3, Canary: canary})
		seen := map[string]int{}
		for i := 0; i < 5000; i++ {
			kind, s, flat, err := f.NextFlat()
			if err != nil {
				t.Fatal(err)
			}
			if want := reg.Latest(schemas.Raw, kind); s == nil || want == nil || s.Name != want.Name || s.FingerprintHex() != want.FingerprintHex() {
				t.Fatalf("kind %q: record of schema %v, want the newest raw schema %v", kind, s, want)
			}
			rec := s.FromFlat(flat)
			want, err := s.Encode(nil, rec)
			if err != nil {
				t.Fatalf("%s event does not encode: %v\n%v", kind, err, rec)
			}
			if got, err := s.AppendFlat(nil, flat); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s event: flat encoding differs from goavro's (err %v)\n%v", kind, err, rec)
			}
			if err := schemas.Validate(s, rec, schemas.WindowAt(time.Now(), 0)); err != nil {
				t.Fatalf("%s event is invalid: %v", kind, err)
			}
			if canary && !strings.HasPrefix(s.InstallationID(flat), CanaryPrefix) {
				t.Fatalf("canary mode: %s event's installation id %q carries no canary", kind, s.InstallationID(flat))
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

// The same seed gives the same fleet and events, but never the same event ids:
// a second run's events are not copies of the first's.
func TestSameSeedSameEventsNewIDs(t *testing.T) {
	a, b := NewFleet(Config{Installations: 50, Seed: 9, Start: time.Unix(1.8e9, 0)}), NewFleet(Config{Installations: 50, Seed: 9, Start: time.Unix(1.8e9, 0)})
	for i := 0; i < 200; i++ {
		ka, ra, err := a.Next()
		if err != nil {
			t.Fatal(err)
		}
		kb, rb, err := b.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ra["event_id"] == rb["event_id"] {
			t.Fatalf("event %d: both fleets made id %v", i, ra["event_id"])
		}
		delete(ra, "event_id")
		delete(rb, "event_id")
		if ka != kb || !reflect.DeepEqual(ra, rb) {
			t.Fatalf("event %d differs between fleets of one seed:\n%s %v\n%s %v", i, ka, ra, kb, rb)
		}
	}
}

// A layout must name fields of its schema, and all of them.
func TestLayoutResolutionRejectsUnknownAndMissingFields(t *testing.T) {
	s := schemas.MustLoad().Latest(schemas.Raw, "playback")
	var unknown struct {
		common
		Nope int `flat:"no_such_field"`
	}
	if err := resolve(s, reflect.ValueOf(&unknown).Elem()); err == nil || !strings.Contains(err.Error(), "no_such_field") {
		t.Errorf("a layout naming no_such_field: %v, want an error naming it", err)
	}
	var short struct {
		common
		AccountID int `flat:"account_id"`
	}
	err := resolve(s, reflect.ValueOf(&short).Elem())
	if err == nil || !strings.Contains(err.Error(), "file_path") {
		t.Errorf("a playback layout without file_path: %v, want an error naming the fields left without a value", err)
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

// BenchmarkFleetNextFlat is the cost of making one event as producer simulate
// does, the load generator's share of each event in scripts/bench.
func BenchmarkFleetNextFlat(b *testing.B) {
	f := NewFleet(Config{Installations: 500, Seed: 1})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := f.NextFlat(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFleetNext is the cost of one event in goavro's native form (tests,
// the collector's load generator).
func BenchmarkFleetNext(b *testing.B) {
	f := NewFleet(Config{Installations: 500, Seed: 1})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := f.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
