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

// readLeased reads r to its end into memory that grows with what arrives: the
// buffer starts at firstChunk and doubles, and every growth is reserved from l
// before it is allocated. A body that trickles in therefore holds what it sent
// (at most twice that, and at least firstChunk), never what it declared. size is
// the length r will have when known (a Content-Length), -1 otherwise; the buffer
// never grows beyond size nor beyond most. It fails with errTooLong when r holds
// more than most bytes, with ErrBusy or errNeverFits when the budget cannot grow,
// and with r's error otherwise.
func readLeased(r io.Reader, l *lease, size, most int64) ([]byte, error) {
	if size >= 0 {
		most = min(most, size)
	}
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			if int64(cap(buf)) >= most {
				if size >= 0 {
					return buf, nil
				}
				return buf, atEOF(r)
			}
			c := min(max(2*int64(cap(buf)), firstChunk), most)
			if err := l.grow(c - int64(cap(buf))); err != nil {
				return nil, err
			}
			grown := make([]byte, len(buf), c)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// errTooLong means a body holds more bytes than allowed.
var errTooLong = errors.New("longer than allowed")

// atEOF returns nil when r has nothing more, errTooLong when it has.
func atEOF(r io.Reader) error {
	var probe [1]byte
	for {
		n, err := r.Read(probe[:])
		switch {
		case n > 0:
			return errTooLong
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// firstChunk is the least a request reading a body holds of the budget.
const firstChunk = 4 << 10
