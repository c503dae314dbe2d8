package stream

import (
	"hash/fnv"
	"testing"
)

// The clean topic's placement must not change between releases: copies of an
// event written by an old and a new enricher must share a partition.
func TestFNV32aMatchesHashFNV(t *testing.T) {
	for _, key := range []string{"", "a", "0b7c3f1e-8f5d-4a51-9d6a-3f1e2b9c7d10", "event-12345", "\xff\x00\x80"} {
		h := fnv.New32a()
		h.Write([]byte(key))
		if got, want := fnv32a([]byte(key)), h.Sum32(); got != want {
			t.Errorf("fnv32a(%q) = %#x, hash/fnv gives %#x", key, got, want)
		}
	}
}
