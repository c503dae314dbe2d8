package collector

import (
	"encoding/json"
	"testing"
)

// The offsets point at every event id of a batch encoding/json wrote, and at
// nothing else.
func TestEventIDOffsetsFindEveryID(t *testing.T) {
	ids := []string{"0f8e2b9c-6a51-4a7e-9d7c-2b1f0c3e5a77", "11111111-2222-4333-8444-555555555555", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"}
	var evs []map[string]any
	for _, id := range ids {
		evs = append(evs, map[string]any{"kind": "playback", "title": `"event_id":"x`, "event_id": id})
	}
	body, err := json.Marshal(map[string]any{"events": evs})
	if err != nil {
		t.Fatal(err)
	}
	offs := EventIDOffsets(body)
	if len(offs) != len(ids) {
		t.Fatalf("%d offsets for %d ids in %s", len(offs), len(ids), body)
	}
	for i, off := range offs {
		if got := string(body[off : off+36]); got != ids[i] {
			t.Errorf("offset %d points at %q, want %q", i, got, ids[i])
		}
	}
}
