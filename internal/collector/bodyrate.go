package collector

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// ErrSlowBody means a request body arrived slower than --min-body-rate, or
// stopped for --body-timeout: the server stopped reading it and closes the
// connection. POST /v1/events answers 408.
var ErrSlowBody = errors.New("request body too slow")

// pacedBody cuts off a request body that arrives too slowly. The connection's read
// deadline starts --body-timeout after the handler begins; every byte that arrives
// moves it 1/--min-body-rate seconds later, but never more than --body-timeout
// ahead of now, nor past --read-timeout after the handler began. So a body must
// keep up --min-body-rate on average, may fall behind by at most --body-timeout,
// and cannot bank credit by sending fast first and trickling after. With a rate
// of 0 only the pause is bounded.
type pacedBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	rate     float64       // bytes per second
	window   time.Duration // --body-timeout
	total    time.Duration // --read-timeout
	limit    time.Time     // --read-timeout after the handler began
	deadline time.Time
	now      func() time.Time
	cut      func() // counts a body cut off, once
	isCut    bool
}

// paceBody wraps r's body so that it is cut off when it arrives too slowly. It
// returns r unchanged when the request has no body or its connection cannot take
// a read deadline (a test recorder).
func (s *Server) paceBody(w http.ResponseWriter, r *http.Request) *http.Request {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return r
	}
	now := s.now()
	pb := &pacedBody{ReadCloser: r.Body, rc: http.NewResponseController(w), rate: float64(s.cfg.MinBodyRate),
		window: s.cfg.BodyTimeout, total: s.cfg.ReadTimeout, limit: now.Add(s.cfg.ReadTimeout), now: s.now, cut: s.m.slowBodies.Inc}
	pb.deadline = earliest(now.Add(pb.window), pb.limit)
	if err := pb.rc.SetReadDeadline(pb.deadline); err != nil {
		return r
	}
	r2 := *r
	r2.Body = pb
	return &r2
}

func (b *pacedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	// At the end of the body net/http clears the deadline itself, for its read
	// ahead of the next request: a handler that waits for Kafka afterwards is not
	// cut off.
	if n > 0 && err == nil {
		if d := nextDeadline(b.deadline, b.now(), n, b.rate, b.window, b.limit); !d.Equal(b.deadline) {
			b.deadline = d
			if serr := b.rc.SetReadDeadline(d); serr != nil {
				err = serr
			}
		}
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		if !b.isCut {
			b.isCut = true
			b.cut()
		}
		err = fmt.Errorf("%w: %s; the connection is closed", ErrSlowBody, b.rule())
	}
	return n, err
}

// nextDeadline is the read deadline after n more bytes arrived at now: n bytes
// buy n/rate seconds after the previous deadline, capped at window after now (a
// rate of 0 buys the whole window) and at limit.
func nextDeadline(prev, now time.Time, n int, rate float64, window time.Duration, limit time.Time) time.Time {
	d := now.Add(window)
	if rate > 0 {
		if earned := prev.Add(time.Duration(float64(n) / rate * float64(time.Second))); earned.Before(d) {
			d = earned
		}
	}
	return earliest(d, limit)
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// rule says what the body failed to do, for the client.
func (b *pacedBody) rule() string {
	if b.rate <= 0 {
		return fmt.Sprintf("the body must never pause for %s (--body-timeout) and must arrive within %s (--read-timeout)", b.window, b.total)
	}
	rate := Bytes(b.rate)
	return fmt.Sprintf("the body must arrive at %s per second or more (--min-body-rate), fall behind that by %s at most (--body-timeout) and arrive within %s (--read-timeout)",
		rate.String(), b.window, b.total)
}
