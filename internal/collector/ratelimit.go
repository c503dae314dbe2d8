package collector

import (
	"container/list"
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/veiltelemetry/veil/internal/credential"
)

// credentialOf is the key of the request's rate-limit bucket, and the limiters it
// counts against: an installation credential's installation (every installation
// has its own bucket, at --installation-rate-limit), or an operator or relay
// token's configured name (tokens that share a name share a bucket, at
// --rate-limit).
func (s *Server) credentialOf(ctx context.Context) (*limiters, string) {
	role, name := Credential(ctx)
	if role == credential.Installation {
		return s.installLimits, name
	}
	return s.limits, string(role) + ":" + name
}

// limiters holds a token bucket per credential: rate requests per second, burst at
// once. It remembers at most max credentials. A bucket that has been unused long
// enough to be full again is forgotten, since a new one is the same; when max
// credentials are all in use, the least recently used is forgotten, and starts
// again full the next time.
type limiters struct {
	rate   rate.Limit
	burst  int
	max    int
	refill time.Duration // from empty to full

	mu    sync.Mutex
	byKey map[string]*list.Element
	lru   list.List // of *bucket, most recently used first
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	used time.Time
}

func newLimiters(perSecond float64, burst, max int) *limiters {
	return &limiters{rate: rate.Limit(perSecond), burst: burst, max: max, byKey: map[string]*list.Element{},
		refill: time.Duration(float64(burst) / perSecond * float64(time.Second))}
}

// take counts one request of key at now. It returns 0 when the request may go
// ahead, otherwise how long until the bucket would let it (and counts nothing).
func (ls *limiters) take(key string, now time.Time) time.Duration {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	b := ls.bucket(key, now)
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// bucket returns key's bucket, marked used at now.
func (ls *limiters) bucket(key string, now time.Time) *bucket {
	if e, ok := ls.byKey[key]; ok {
		ls.lru.MoveToFront(e)
		b := e.Value.(*bucket)
		b.used = now
		return b
	}
	// Forget the buckets that are full again, and the least recently used while
	// there are too many.
	for e := ls.lru.Back(); e != nil; e = ls.lru.Back() {
		if b := e.Value.(*bucket); ls.lru.Len() < ls.max && now.Sub(b.used) < ls.refill {
			break
		}
		ls.forget(e)
	}
	b := &bucket{key: key, lim: rate.NewLimiter(ls.rate, ls.burst), used: now}
	ls.byKey[key] = ls.lru.PushFront(b)
	return b
}

func (ls *limiters) forget(e *list.Element) {
	delete(ls.byKey, e.Value.(*bucket).key)
	ls.lru.Remove(e)
}

// remembered is the number of credentials with a bucket.
func (ls *limiters) remembered() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.lru.Len()
}

// limitRate wraps an authenticated handler: a request over its credential's rate
// gets 429 with Retry-After, the seconds until its bucket lets it through, and
// nothing of it is read.
func (s *Server) limitRate(h http.Handler) http.Handler {
	if s.limits == nil && s.installLimits == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ls, key := s.credentialOf(r.Context())
		if ls == nil {
			h.ServeHTTP(w, r)
			return
		}
		wait := ls.take(key, s.now())
		if wait == 0 {
			h.ServeHTTP(w, r)
			return
		}
		s.m.rateLimited.WithLabelValues(Fleet(r.Context())).Inc()
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		flag := "--rate-limit"
		if ls == s.installLimits {
			flag = "--installation-rate-limit"
		}
		writeJSON(w, http.StatusTooManyRequests, response{Error: fmt.Sprintf(
			"over this credential's rate limit of %g requests per second (%s, bursts of %d); retry after Retry-After",
			float64(ls.rate), flag, ls.burst)})
	})
}
