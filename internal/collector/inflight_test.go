package collector

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// oneByte hands out n bytes one at a time and checks the lease before each.
type oneByte struct {
	n, read int
	check   func(read int)
}

func (r *oneByte) Read(p []byte) (int, error) {
	if r.read == r.n {
		return 0, io.EOF
	}
	r.check(r.read)
	p[0] = 'x'
	r.read++
	return 1, nil
}

// A body that arrives a byte at a time holds at most twice what arrived (and at
// least the first chunk), however much it declared; a whole body holds its size.
func TestReadLeasedHoldsWhatArrived(t *testing.T) {
	b := &budget{limit: 64 << 20}
	l := b.lease()
	r := &oneByte{n: 100_000, check: func(read int) {
		if used := b.used.Load(); used > max(firstChunk, 2*int64(read)) {
			t.Fatalf("after %d bytes the lease holds %d", read, used)
		}
	}}
	body, err := readLeased(r, l, 4<<20, 4<<20)
	if err != nil || len(body) != r.n {
		t.Fatalf("readLeased: %d bytes, %v; want %d", len(body), err, r.n)
	}
	l.release()

	whole := bytes.Repeat([]byte("y"), 300_000)
	l = b.lease()
	body, err = readLeased(bytes.NewReader(whole), l, int64(len(whole)), 4<<20)
	if err != nil || !bytes.Equal(body, whole) || b.used.Load() != int64(len(whole)) {
		t.Errorf("a whole body of %d bytes: read %d, lease %d, %v", len(whole), len(body), b.used.Load(), err)
	}
	l.release()

	// Of a body without a length, no more than the limit is held, and a byte more
	// fails it.
	for _, tc := range []struct {
		limit int64
		want  error
	}{{int64(len(whole)), nil}, {int64(len(whole)) - 1, errTooLong}} {
		l = b.lease()
		body, err = readLeased(bytes.NewReader(whole), l, -1, tc.limit)
		if !errors.Is(err, tc.want) || b.used.Load() > tc.limit {
			t.Errorf("%d bytes with a limit of %d: %v with a lease of %d, want %v and at most the limit", len(whole), tc.limit, err, b.used.Load(), tc.want)
		}
		if err == nil && !bytes.Equal(body, whole) {
			t.Errorf("%d bytes with a limit of %d: read %d", len(whole), tc.limit, len(body))
		}
		l.release()
	}

	// The lease that cannot grow fails alone; the other keeps its bytes.
	b = &budget{limit: 64 << 10}
	other := b.lease()
	if err := other.grow(60 << 10); err != nil {
		t.Fatal(err)
	}
	failing := b.lease()
	_, err = readLeased(bytes.NewReader(whole), failing, -1, 4<<20)
	failing.release()
	if !errors.Is(err, ErrBusy) || b.used.Load() != 60<<10 {
		t.Errorf("over the budget: %v, then %d bytes in use; want ErrBusy, then the other lease's 61440", err, b.used.Load())
	}
}
