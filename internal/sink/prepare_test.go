package sink

import (
	"maps"
	"testing"

	"github.com/veiltelemetry/veil/internal/chstore"
)

// Preparing a partition again replaces its resume points and keeps the other
// partitions'; a map handed out before is left as it was.
func TestResumePointsReplaceAPartitionsOwn(t *testing.T) {
	var r resumePoints
	if len(r.all()) != 0 {
		t.Fatalf("no partition prepared, got %v", r.all())
	}
	k := func(part int, month uint32) chstore.ResumeKey {
		return chstore.ResumeKey{Table: "veil.playback", Partition: part, Month: month}
	}
	r.set(0, map[chstore.ResumeKey]int64{k(0, 202601): 10, k(0, 202602): 20})
	r.set(1, map[chstore.ResumeKey]int64{k(1, 202602): 5})
	before := maps.Clone(r.all())
	held := r.all()
	r.set(0, map[chstore.ResumeKey]int64{k(0, 202602): 30})
	want := map[chstore.ResumeKey]int64{k(0, 202602): 30, k(1, 202602): 5}
	if got := r.all(); !maps.Equal(got, want) {
		t.Errorf("after preparing partition 0 again: %v, want %v", got, want)
	}
	if !maps.Equal(held, before) {
		t.Errorf("a map handed out before changed: %v, was %v", held, before)
	}
}
