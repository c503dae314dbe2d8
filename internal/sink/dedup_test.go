package sink

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestWindowRecognisesCopiesWithinItsSize(t *testing.T) {
	w := newWindow(3)
	for _, id := range []string{"a", "b", "c"} {
		if w.seenOrAdd(id) {
			t.Fatalf("%s reported as seen on first sight", id)
		}
	}
	if !w.seenOrAdd("b") {
		t.Error("a copy of b inside the window was not recognised")
	}
	if w.seenOrAdd("d") { // evicts a
		t.Error("d reported as seen on first sight")
	}
	if w.seenOrAdd("a") {
		t.Error("a was evicted by d, yet reported as seen")
	}
	if w.len() != 3 {
		t.Errorf("window holds %d ids, want its size 3", w.len())
	}
}

func TestWindowOfSizeZeroRemembersNothing(t *testing.T) {
	w := newWindow(0)
	if w.seenOrAdd("a") || w.seenOrAdd("a") {
		t.Error("a disabled window reported a copy")
	}
}

func TestWindowHoldsManyDistinctIDsWithoutFalseMatches(t *testing.T) {
	w := newWindow(100000)
	for i := 0; i < 100000; i++ {
		if w.seenOrAdd(fmt.Sprintf("event-%d", i)) {
			t.Fatalf("event-%d falsely reported as a copy", i)
		}
	}
	for i := 0; i < 100000; i += 997 {
		if !w.seenOrAdd(fmt.Sprintf("event-%d", i)) {
			t.Fatalf("event-%d not recognised", i)
		}
	}
}

// The set agrees with a plain map holding the last size ids, over a stream with
// many repeats and many evictions (which exercise the backward shifts).
func TestWindowAgreesWithAMapOfTheLastIDs(t *testing.T) {
	const size = 1000
	w := newWindow(size)
	var ring []string
	inRing := map[string]int{}
	rng := rand.New(rand.NewPCG(5, 6))
	for step := 0; step < 200000; step++ {
		id := fmt.Sprintf("e%d", rng.IntN(3000)) // repeats within and beyond the window
		want := inRing[id] > 0
		if got := w.seenOrAdd(id); got != want {
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
		if w.len() != len(ring) {
			t.Fatalf("step %d: window holds %d ids, want %d", step, w.len(), len(ring))
		}
	}
}

func BenchmarkWindow(b *testing.B) {
	w := newWindow(100000)
	ids := make([]string, 1<<18) // more than the window: every add evicts
	for i := range ids {
		ids[i] = fmt.Sprintf("0192f0c4-7d1e-7a3b-9c2d-%012d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.seenOrAdd(ids[i&(len(ids)-1)])
		i++
	}
}
