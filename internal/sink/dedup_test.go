package sink

import (
	"fmt"
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
