package naive

import (
	"hash/maphash"
	"math/bits"
)

// Window is the sink's deduplication before its on-disk index (package
// dedup), kept as the baseline the index is measured against, in scripts/bench
// and in BenchmarkIndex.
//
// Window remembers the event ids of the last size records of one partition, so
// that a second copy of an event (a collector retry, an enricher replay after a
// crash) is recognised and not inserted again. Copies land in the same partition
// because the clean topic is keyed by event id. Ids are kept as 64-bit hashes,
// in arrival order in a ring and in an open-addressing set (linear probing, at
// most half full): about 24 bytes per id, where a Go map took about 45. A false
// match needs a 64-bit collision within the window.
type Window struct {
	seed  maphash.Seed
	ring  []uint64 // hashes in arrival order; the oldest at next once full
	slots []uint64 // the set; 0 marks an empty slot, so no stored hash is 0
	mask  uint64
	next  int
	full  bool
	n     int
}

// NewWindow returns a window of size ids.
func NewWindow(size int) *Window {
	w := &Window{seed: maphash.MakeSeed(), ring: make([]uint64, size)}
	if size > 0 {
		slots := uint64(1) << bits.Len(uint(2*size-1)) // a power of two ≥ 2×size
		w.slots, w.mask = make([]uint64, slots), slots-1
	}
	return w
}

// SeenOrAdd reports whether id is in the window, and adds it when it is not.
func (w *Window) SeenOrAdd(id string) bool {
	if len(w.ring) == 0 {
		return false
	}
	h := maphash.String(w.seed, id)
	if h == 0 {
		h = 1
	}
	i := h & w.mask
	for ; w.slots[i] != 0; i = (i + 1) & w.mask {
		if w.slots[i] == h {
			return true
		}
	}
	if w.full {
		w.remove(w.ring[w.next])
		// The removal may have shifted entries back; find the free slot again.
		for i = h & w.mask; w.slots[i] != 0; i = (i + 1) & w.mask {
		}
	} else {
		w.n++
	}
	w.slots[i] = h
	w.ring[w.next] = h
	w.next++
	if w.next == len(w.ring) {
		w.next, w.full = 0, true
	}
	return false
}

// remove deletes h from the set, moving back the entries after it that would
// otherwise become unreachable from their home slot (backward-shift deletion:
// no tombstones, so lookups stay short).
func (w *Window) remove(h uint64) {
	i := h & w.mask
	for w.slots[i] != h {
		i = (i + 1) & w.mask
	}
	for j := (i + 1) & w.mask; w.slots[j] != 0; j = (j + 1) & w.mask {
		home := w.slots[j] & w.mask
		// The entry at j stays if its home lies cyclically in (i, j].
		if (i < j && i < home && home <= j) || (i > j && (home > i || home <= j)) {
			continue
		}
		w.slots[i] = w.slots[j]
		i = j
	}
	w.slots[i] = 0
}

// Len is the number of ids held.
func (w *Window) Len() int { return w.n }
