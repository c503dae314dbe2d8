package bench

import (
	"testing"
	"time"

	"github.com/veiltelemetry/veil/schemas"
	"github.com/veiltelemetry/veil/tools/bench/naive"
)

func TestNaiveCopiesTheCleanFieldsAndZeroesTheRest(t *testing.T) {
	reg := schemas.MustLoad()
	msgs, _, err := sampleRecords(reg, 200)
	if err != nil {
		t.Fatal(err)
	}
	nv, err := naive.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, m := range msgs {
		rawSchema, raw, err := reg.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		out, err := nv.Convert(nil, m.Value)
		if err != nil {
			t.Fatalf("%s: %v", rawSchema.Kind, err)
		}
		s, clean, err := reg.Decode(out)
		if err != nil {
			t.Fatalf("the naive output does not decode: %v", err)
		}
		kinds[s.Kind] = true
		if s.Stage != schemas.Clean || s.Kind != rawSchema.Kind {
			t.Fatalf("a %s %s record became %s %s", rawSchema.Stage, rawSchema.Kind, s.Stage, s.Kind)
		}
		if clean["event_id"] != raw["event_id"] {
			t.Errorf("event_id %v, want the raw %v copied", clean["event_id"], raw["event_id"])
		}
		if v, ok := raw["app_version"]; ok && clean["app_version"] != v {
			t.Errorf("app_version %v, want the raw %v", clean["app_version"], v)
		}
		if got := clean["event_hour"].(time.Time); !got.Equal(time.Unix(0, 0)) {
			t.Errorf("event_hour = %v; the raw record has no such field, want the zero time", got)
		}
		if clean["country"] != "" {
			t.Errorf("country = %q, want empty (not in the raw record)", clean["country"])
		}
	}
	if len(kinds) < 4 {
		t.Errorf("200 simulated events covered only kinds %v", kinds)
	}
	if _, err := nv.Convert(nil, []byte("not avro")); err == nil {
		t.Error("convert of a non-Avro value: want an error")
	}
}
