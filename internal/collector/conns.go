package collector

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connLimit caps the connections open at once (--max-connections). A connection
// holds a slot from accept until it closes. When every slot is taken, the next
// accepted connection first makes room by closing the connection that has been
// idle the longest (between two keep-alive requests); when none is idle, it waits
// unserved until a connection closes, and the connections after it wait in the
// kernel's accept queue. So idle clients never lock new ones out, and busy ones
// delay them only as long as a request may take (uploads that trickle are cut off
// after --body-timeout).
type connLimit struct {
	slots chan struct{}
	wake  chan struct{} // a connection went idle
	mu    sync.Mutex
	idle  map[*limitedConn]time.Time // since when

	waited    atomic.Int64 // accepts that found every slot busy and waited
	reclaimed atomic.Int64 // idle connections closed to make room
}

func newConnLimit(n int) *connLimit {
	return &connLimit{slots: make(chan struct{}, n), wake: make(chan struct{}, 1), idle: map[*limitedConn]time.Time{}}
}

// open is the number of connections holding a slot.
func (cl *connLimit) open() int { return len(cl.slots) }

// listen wraps ln so that its connections count against the limit.
func (cl *connLimit) listen(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, cl: cl, done: make(chan struct{})}
}

// track is the http.Server's ConnState hook: it keeps the set of idle connections.
func (cl *connLimit) track(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if st == http.StateIdle && !lc.closed.Load() {
		cl.idle[lc] = time.Now()
		select {
		case cl.wake <- struct{}{}:
		default:
		}
		return
	}
	delete(cl.idle, lc)
}

// acquire takes a slot for a new connection, closing the longest-idle connection
// when every slot is taken, or waiting for one to close. It fails once done is
// closed.
func (cl *connLimit) acquire(done <-chan struct{}) bool {
	select {
	case cl.slots <- struct{}{}:
		return true
	default:
	}
	waiting := false
	for {
		if cl.closeIdlest() {
			// Its Close gave its slot back, unless another closing took it first.
			select {
			case cl.slots <- struct{}{}:
				return true
			default:
			}
			continue
		}
		if !waiting {
			waiting = true
			cl.waited.Add(1)
		}
		select {
		case cl.slots <- struct{}{}:
			return true
		case <-cl.wake:
		case <-done:
			return false
		}
	}
}

// closeIdlest closes the connection idle the longest; false when none is idle.
func (cl *connLimit) closeIdlest() bool {
	cl.mu.Lock()
	var oldest *limitedConn
	var since time.Time
	for c, t := range cl.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	delete(cl.idle, oldest)
	cl.mu.Unlock()
	if oldest == nil {
		return false
	}
	cl.reclaimed.Add(1)
	oldest.Close()
	return true
}

type limitListener struct {
	net.Listener
	cl        *connLimit
	done      chan struct{}
	closeOnce sync.Once
}

// Accept accepts a connection and then waits for a slot for it (see connLimit).
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if !l.cl.acquire(l.done) {
		c.Close()
		return nil, net.ErrClosed
	}
	return &limitedConn{Conn: c, cl: l.cl}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitedConn gives its slot back when it is closed.
type limitedConn struct {
	net.Conn
	cl     *connLimit
	closed atomic.Bool
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if !c.closed.Swap(true) {
		c.cl.mu.Lock()
		delete(c.cl.idle, c)
		c.cl.mu.Unlock()
		<-c.cl.slots
	}
	return err
}

// CloseWrite half-closes a TCP connection: net/http sends its last answer and a
// FIN this way before it closes a connection whose request body it did not read.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
