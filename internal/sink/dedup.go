package sink

import "hash/maphash"

// window remembers the event ids of the last size records of one partition, so
// that a second copy of an event (a collector retry, an enricher replay after a
// crash) is recognised and not inserted again. Copies land in the same partition
// because the clean topic is keyed by event id. Ids are kept as 64-bit hashes:
// about 40 bytes per entry, and a false match needs a 64-bit collision within the
// window.
type window struct {
	seed maphash.Seed
	ring []uint64
	set  map[uint64]struct{}
	next int
	full bool
}

func newWindow(size int) *window {
	return &window{seed: maphash.MakeSeed(), ring: make([]uint64, size), set: make(map[uint64]struct{}, size)}
}

// seenOrAdd reports whether id is in the window, and adds it when it is not.
func (w *window) seenOrAdd(id string) bool {
	if len(w.ring) == 0 {
		return false
	}
	h := maphash.String(w.seed, id)
	if _, ok := w.set[h]; ok {
		return true
	}
	if w.full {
		delete(w.set, w.ring[w.next])
	}
	w.ring[w.next] = h
	w.set[h] = struct{}{}
	w.next++
	if w.next == len(w.ring) {
		w.next, w.full = 0, true
	}
	return false
}

// len is the number of ids held.
func (w *window) len() int { return len(w.set) }
