package naive

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestWindowRecognisesCopiesWithinItsSize(t *testing.T) {
	w := NewWindow(3)
	for _, id := range []string{"a", "b", "c"} {
		if w.SeenOrAdd(id) {
			t.Fatalf("%s reported as seen on first sight", id)
		}
	}
	if !w.SeenOrAdd("b") {
		t.Error("a copy of b inside the window was not recognised")
	}
	if w.SeenOrAdd("d") { // evicts a
		t.Error("d reported as seen on first sight")
	}
	if w.SeenOrAdd("a") {
		t.Error("a was evicted by d, yet reported as seen")
	}
	if w.Len() != 3 {
		t.Errorf("window holds %d ids, want its size 3", w.Len())
	}
}

func TestWindowOfSizeZeroRemembersNothing(t *testing.T) {
	w := NewWindow(0)
	if w.SeenOrAdd("a") || w.SeenOrAdd("a") {
		t.Error("a disabled window reported a copy")
	}
}

func TestWindowHoldsManyDistinctIDsWithoutFalseMatches(t *testing.T) {
	w := NewWindow(100000)
	for i := 0; i < 100000; i++ {
		if w.SeenOrAdd(fmt.Sprintf("event-%d", i)) {
			t.Fatalf("event-%d falsely reported as a copy", i)
		}
	}
	for i := 0; i < 100000; i += 997 {
		if !w.SeenOrAdd(fmt.Sprintf("event-%d", i)) {
			t.Fatalf("event-%d not recognised", i)
		}
	}
}

// The set agrees with a plain map holding the last size ids, over a stream with
// many repeats and many evictions (which exercise the backward shifts).
func TestWindowAgreesWithAMapOfTheLastIDs(t *testing.T) {
	const size = 1000
	w := NewWindow(size)
	var ring []string
	inRing := map[string]int{}
	rng := rand.New(rand.NewPCG(5, 6))
	for step := 0; step < 200000; step++ {
		id := fmt.Sprintf("e%d", rng.IntN(3000)) // repeats within and beyond the window
		want := inRing[id] > 0
		if got := w.SeenOrAdd(id); got != want {
			t.Fatalf("step %d: seenOrAdd(%s) = %v, want %v", step, id, got, want)
		}
		if !want {
			ring = append(ring, id)
			inRing[id]++
			if len(ring) > size {
				inRing[ring[0]]--
				ring = ring[1:]
			}
		}
		if w.Len() != len(ring) {
			t.Fatalf("step %d: window holds %d ids, want %d", step, w.Len(), len(ring))
		}
	}
}
