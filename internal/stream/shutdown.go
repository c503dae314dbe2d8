package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// DrainTimeout bounds how long work already in hand may take to finish once
// shutdown began: a write Kafka is acknowledging or an INSERT ClickHouse is
// taking finishes, one waiting for a service that does not answer is abandoned.
// Abandoned work is never reported done: a consumer leaves its batch
// uncommitted, a producer counts its records as not acknowledged.
const DrainTimeout = 2 * time.Second

// CloseTimeout bounds how long Close waits for a kafka-go client to close.
const CloseTimeout = time.Second

// ErrDraining is joined to the error of an attempt that Retry did not repeat
// because the shutdown began.
var ErrDraining = errors.New("shutting down: not retried")

type drainKey struct{}

// DrainContext returns a context for finishing work already in hand: it is not
// cancelled with parent, but ends DrainTimeout after parent is. Once parent is
// done, Retry under it makes no further attempt: the work gets the attempt in
// progress, or one more if none is, and no retries.
func DrainContext(parent context.Context) (context.Context, context.CancelFunc) {
	return DrainContextFor(parent, DrainTimeout)
}

// DrainContextFor is DrainContext with a drain of d instead of DrainTimeout (d
// of 0 means DrainTimeout).
func DrainContextFor(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		d = DrainTimeout
	}
	ctx, cancel := context.WithCancel(context.WithValue(context.WithoutCancel(parent), drainKey{}, parent))
	stop := context.AfterFunc(parent, func() {
		t := time.AfterFunc(d, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	return ctx, func() { stop(); cancel() }
}

// Draining reports whether ctx is (or derives from) a DrainContext whose
// parent is done: the shutdown began, and the work in hand gets no retry.
func Draining(ctx context.Context) bool { return drainParent(ctx).Err() != nil }

// drainParent returns the parent of ctx's DrainContext, or a context that is
// never done when ctx has none.
func drainParent(ctx context.Context) context.Context {
	if p, ok := ctx.Value(drainKey{}).(context.Context); ok {
		return p
	}
	return context.Background()
}

// Close closes a kafka-go Writer, Reader or ConsumerGroup, waiting at most
// CloseTimeout. kafka-go's Close waits out its own retries against brokers that
// may not answer: a writer's batches still being retried (up to 5 attempts of
// 10s each, whatever context their WriteMessages had), a group member's leave
// request. After the timeout the close goes on in the background and Close
// returns an error; the records such a writer still held were already reported
// failed to whoever wrote them.
func Close(c io.Closer, what string) error {
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	t := time.NewTimer(CloseTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("stream: close %s: %w", what, err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("stream: close %s: Kafka did not let go within %s; left closing in the background", what, CloseTimeout)
	}
}
