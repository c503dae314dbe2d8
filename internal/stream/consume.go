package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// Fetcher is anything records are fetched from: a kafka-go *Reader.
type Fetcher interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
}

// Batching bounds a batch by count and by time.
type Batching struct {
	MaxRecords int           // default 5000
	MaxWait    time.Duration // after the first record; default 200ms
	// Drain is how long the batch in hand may take to finish, without a retry,
	// once shutdown began (--drain-timeout); default DrainTimeout. What does not
	// finish stays uncommitted and is delivered again.
	Drain time.Duration
	// Idle, when set, ends a batch once no record arrived for this long, instead
	// of MaxWait after its first record, and Source.Next returns ErrIdle when no
	// first record came within it: for readers that stop once a topic is idle.
	Idle time.Duration
}

// DrainOr is Drain, or DrainTimeout when Drain is 0.
func (b Batching) DrainOr() time.Duration {
	if b.Drain > 0 {
		return b.Drain
	}
	return DrainTimeout
}

// Validate names the first bad bound, as the flags --batch-records and
// --batch-wait that set them.
func (b Batching) Validate() error {
	switch {
	case b.MaxRecords <= 0:
		return fmt.Errorf("--batch-records: must be positive, got %d", b.MaxRecords)
	case b.MaxWait <= 0:
		return fmt.Errorf("--batch-wait: must be positive, got %s", b.MaxWait)
	case b.Drain < 0:
		return fmt.Errorf("--drain-timeout: must not be negative, got %s", b.Drain)
	case b.Idle < 0:
		return fmt.Errorf("--idle: must not be negative, got %s", b.Idle)
	}
	return nil
}

// ValidateConsumer names the first bad setting a stage consuming a topic as
// group has in common with the others: Kafka's, --group's, the batch bounds'.
func ValidateConsumer(k *Kafka, group string, b Batching) error {
	if err := k.Validate(); err != nil {
		return err
	}
	if group == "" {
		return fmt.Errorf("--group must not be empty")
	}
	return b.Validate()
}

// Handler processes one batch. It returns nil only when every record has been
// written downstream (or dead-lettered) and acknowledged; it must be safe to call
// again with the same batch.
type Handler func(ctx context.Context, batch []kafka.Message) error

// Consume runs fetch → handle → ack over src until ctx is done. A handler error
// is retried with exponential backoff (up to 5s) on the same batch, so nothing
// is skipped and nothing new is fetched while downstream is failing. When ctx is
// cancelled, the batch in hand is still handled and acknowledged if that
// succeeds within the source's Batching.Drain without another attempt (see
// DrainContext); records not yet fetched stay in Kafka. Consume then returns
// nil, or an error when the batch in hand was left unhandled: it stays
// uncommitted and is delivered again. A batch whose partitions were taken away
// meanwhile (Batch.Context ended: a rebalance) gets the same drain, and what it
// leaves unhandled is read again by their next owner while Consume goes on. A
// failed ack is logged and the loop goes on: the records will be delivered
// again, which is at-least-once. Consume does not close src.
func Consume(ctx context.Context, src *Source, log *slog.Logger, handle Handler) error {
	drain := src.Batching().Drain
	for {
		b, err := src.Next(ctx)
		switch {
		case err != nil && (ctx.Err() != nil || errors.Is(err, ErrClosed)):
			return nil
		case err != nil:
			return err
		}
		// From here the batch is finished even if shutdown begins or its
		// partitions are taken away: either starts the drain.
		work, cancelWork := b.WorkContext(ctx, drain)
		err = Retry(work, log, func() error { return handle(work, b.Messages) })
		if err == nil {
			if cerr := b.Ack(work); cerr != nil {
				log.Warn("commit failed; the batch will be delivered again", "records", len(b.Messages), "err", cerr)
			}
		}
		cancelWork()
		switch {
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("stream: shutdown left a batch of %d records unhandled and uncommitted (it will be delivered again): %w", len(b.Messages), err)
		case err != nil && b.Context().Err() != nil:
			log.Warn("partitions taken away: a batch left unhandled and uncommitted; their next owner reads it again", "records", len(b.Messages), "err", err)
		case err != nil:
			return err
		case ctx.Err() != nil:
			return nil
		}
	}
}

// either returns a context that ends when a or b does, with its cause.
func either(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(a)
	stop := context.AfterFunc(b, func() { cancel(context.Cause(b)) })
	return ctx, func() { stop(); cancel(nil) }
}

// Fetch waits for the next record. Errors other than the end of ctx (a broker
// restarting, a lost connection) are logged and retried with backoff: the reader
// reconnects, and nothing was consumed.
func Fetch(ctx context.Context, src Fetcher, log *slog.Logger) (kafka.Message, error) {
	backoff := 100 * time.Millisecond
	for {
		m, err := src.FetchMessage(ctx)
		if err == nil || ctx.Err() != nil {
			return m, err
		}
		log.Warn("fetch failed; retrying", "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// Retry calls fn until it succeeds or ctx ends, backing off from 100ms to 5s.
// Under a DrainContext whose shutdown began, the attempt in progress is the
// last: a failure is returned at once, joined with ErrDraining.
func Retry(ctx context.Context, log *slog.Logger, fn func() error) error {
	backoff := 100 * time.Millisecond
	shutdown := drainParent(ctx).Done()
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		if Draining(ctx) {
			return errors.Join(err, ErrDraining)
		}
		log.Warn("batch failed; retrying", "attempt", attempt, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-shutdown:
			return errors.Join(err, ErrDraining)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
