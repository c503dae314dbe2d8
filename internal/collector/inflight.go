package collector

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// Errors of the in-flight byte budget.
var (
	// ErrBusy means the request does not fit next to the requests in flight now:
	// answered 503 with Retry-After.
	ErrBusy = errors.New("collector busy: too many bytes in flight")
	// errNeverFits means the request alone needs more than the whole budget:
	// answered 413, since retrying cannot help.
	errNeverFits = errors.New("request needs more memory than --max-inflight allows")
)

// budget bounds the bytes held by all requests together. It never waits: a
// reservation that does not fit fails at once, so an overloaded collector answers
// 503 instead of queueing requests in memory.
type budget struct {
	limit int64
	used  atomic.Int64
}

// lease is one request's share of the budget. Its bytes are returned once, by
// release, when the request and the Kafka writes it started are both finished.
type lease struct {
	b    *budget
	mu   sync.Mutex
	n    int64
	done bool
}

func (b *budget) lease() *lease { return &lease{b: b} }

// grow reserves n more bytes or fails with ErrBusy or errNeverFits.
func (l *lease) grow(n int64) error {
	if n <= 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return ErrBusy
	}
	if l.n+n > l.b.limit {
		return errNeverFits
	}
	for {
		cur := l.b.used.Load()
		if cur+n > l.b.limit {
			return ErrBusy
		}
		if l.b.used.CompareAndSwap(cur, cur+n) {
			l.n += n
			return nil
		}
	}
}

// release returns the lease's bytes; later calls do nothing.
func (l *lease) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.b.used.Add(-l.n)
		l.n, l.done = 0, true
	}
}

// leasedReader reserves bytes from a lease before handing them out, in steps of
// at least leaseStep so that the budget is not touched on every small read.
type leasedReader struct {
	r       io.Reader
	l       *lease
	granted int64 // reserved for this reader
	read    int64
}

const leaseStep = 64 << 10

func (lr *leasedReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if need := lr.read + int64(len(p)) - lr.granted; need > 0 {
		step := max(need, leaseStep)
		err := lr.l.grow(step)
		if err != nil && step > need {
			step = need
			err = lr.l.grow(step)
		}
		switch {
		case err == nil:
			lr.granted += step
		case lr.read < lr.granted: // hand out what is already granted first
			p = p[:lr.granted-lr.read]
		default:
			return 0, err
		}
	}
	n, err := lr.r.Read(p)
	lr.read += int64(n)
	return n, err
}
