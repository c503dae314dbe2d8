package jsonevent

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The offsets point at every event id of a batch encoding/json wrote, and at
// nothing else.
func TestIDOffsetsFindEveryID(t *testing.T) {
	ids := []string{"0f8e2b9c-6a51-4a7e-9d7c-2b1f0c3e5a77", "11111111-2222-4333-8444-555555555555", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"}
	var evs []map[string]any
	for _, id := range ids {
		evs = append(evs, map[string]any{"kind": "playback", "title": `"event_id":"x`, "event_id": id})
	}
	body, err := json.Marshal(map[string]any{"events": evs})
	if err != nil {
		t.Fatal(err)
	}
	offs := IDOffsets(body)
	if len(offs) != len(ids) {
		t.Fatalf("%d offsets for %d ids in %s", len(offs), len(ids), body)
	}
	for i, off := range offs {
		if got := string(body[off : off+36]); got != ids[i] {
			t.Errorf("offset %d points at %q, want %q", i, got, ids[i])
		}
	}
}

// A record's times become epoch milliseconds, its kind is added, and nothing
// else changes.
func TestEventWritesTimesAsMillisecondsAndAddsTheKind(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 30, 0, 123e6, time.UTC)
	rec := map[string]any{"event_time": at, "bitrate_kbps": int32(8000), "platform": "android"}
	want := map[string]any{"event_time": at.UnixMilli(), "bitrate_kbps": int32(8000), "platform": "android", "kind": "playback"}
	if got := Event("playback", rec); !reflect.DeepEqual(got, want) {
		t.Errorf("Event = %v, want %v", got, want)
	}
	if _, ok := rec["kind"]; ok {
		t.Error("Event changed the record it was given")
	}
}
