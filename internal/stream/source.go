package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Errors of Source.Next, besides its context's.
var (
	ErrClosed = errors.New("stream: source closed")                           // after Close
	ErrIdle   = errors.New("stream: no record within the source's idle time") // see Batching.Idle
)

// Source delivers a topic's records in batches and takes each batch back
// acknowledged. It reads in one of three modes, chosen by its constructor:
//
//   - NewMember: as a member of a consumer group, which divides the topic's
//     partitions among its members; Ack commits the batch's offsets to the group
//     (the enricher, the dead-letter replay).
//   - NewAssigned: the partitions a consumer group assigns this instance, one
//     generation after another, each partition read from the offset the group
//     committed, after a callback prepared it; Ack commits through the
//     generation the batch came from, and Batch.Context ends with it (the sink).
//   - NewFollower: every partition of a compacted topic from its start, without a
//     group, forever; Ack commits nothing, and Loaded says when every record
//     present at the start was acknowledged (the consent topic).
//
// Next waits for a record, then gathers what else arrives within
// Batching.MaxWait, up to Batching.MaxRecords. A batch is the caller's until its
// next call of Next or Close: in the assigned mode its generation, and so a
// rebalance of the group, waits until then. One goroutine calls Next, Ack and
// Close. Consume runs the usual loop over a Source: fetch, handle, ack.
//
// Delivery is at-least-once: what is not acknowledged is delivered again, to this
// instance or to the next owner of its partition, after a restart or a
// rebalance.
type Source struct {
	b     Batching
	mode  mode
	batch Batch // reused: Next hands out &batch
	held  bool  // batch is the caller's
	shut  bool
}

// mode is how a Source reads: the three constructors each make one.
type mode interface {
	// collect fills b with the next batch (Messages, ctx, ack, release). It
	// returns ctx's error when ctx ended first, ErrClosed when the mode was
	// closed.
	collect(ctx context.Context, bt Batching, b *Batch) error
	lag() int64
	close(drain time.Duration) error
}

// Batch is what Next returns.
type Batch struct {
	// Messages are the records, in offset order within each partition; valid
	// until the next call of Next.
	Messages []kafka.Message
	// Taken is when the first record was taken: the batch's own delay counts
	// from here.
	Taken time.Time

	ctx     context.Context
	ack     func(ctx context.Context, msgs []kafka.Message) error
	release func()
}

// Context is done once the batch can no longer be committed: in the assigned
// mode when the generation it came from ended (a rebalance or Close); never in
// the other modes. Work on a batch whose context is done is abandoned and left
// to the partitions' next owner.
func (b *Batch) Context() context.Context {
	if b.ctx == nil {
		return context.Background()
	}
	return b.ctx
}

// Ack commits the batch: a member commits its offsets to the group, an
// assigned source through the batch's generation, a follower records that
// everything up to the batch was applied. Call it only once every record of the
// batch was handled. When it fails the records are delivered again later, which
// is at-least-once.
func (b *Batch) Ack(ctx context.Context) error {
	if b.ack == nil || len(b.Messages) == 0 {
		return nil
	}
	return b.ack(ctx, b.Messages)
}

// WorkContext returns the context to handle b under, with ctx the consumer's
// own: it lives on when ctx ends (shutdown) or b's Context does (its partitions
// taken away), and ends drain later (DrainContextFor: no retry once either
// ended; a drain of 0 is DrainTimeout). Call the CancelFunc once b was handled.
func (b *Batch) WorkContext(ctx context.Context, drain time.Duration) (context.Context, context.CancelFunc) {
	life, endLife := either(ctx, b.Context())
	work, cancelWork := DrainContextFor(life, drain)
	return work, func() { cancelWork(); endLife() }
}

// Next returns the next batch. It first takes back the batch returned before.
// It waits for the first record as long as ctx allows (at most Batching.Idle,
// when set: then ErrIdle): it returns ctx's error when ctx ends first, and
// ErrClosed after Close. Fetch errors (a broker restarting, a lost connection)
// are logged and retried with backoff.
func (s *Source) Next(ctx context.Context) (*Batch, error) {
	s.giveBack()
	if s.shut {
		return nil, ErrClosed
	}
	b := &s.batch
	clear(b.Messages[:cap(b.Messages)]) // let the last batch's records go
	b.Messages, b.ctx, b.ack, b.release = b.Messages[:0], nil, nil, nil
	if err := s.mode.collect(ctx, s.b, b); err != nil {
		if b.release != nil {
			b.release()
		}
		return nil, err
	}
	s.held = true
	return b, nil
}

func (s *Source) giveBack() {
	if s.held {
		s.held = false
		if s.batch.release != nil {
			s.batch.release()
		}
	}
}

// Batching returns the bounds of the source's batches, defaults applied.
func (s *Source) Batching() Batching { return s.b }

// Lag is the number of records between the last ones fetched and the end of
// the partitions the source reads, as last fetched. Any goroutine may call it.
func (s *Source) Lag() int64 { return s.mode.lag() }

// Close takes back the batch in hand and stops reading. A member leaves its
// group; an assigned source ends its generation and leaves the group. It waits
// at most CloseTimeout for Kafka (and an assigned source, before that, at most
// Batching.Drain for the generation's partitions to stop), then returns an
// error and lets the close go on in the background.
func (s *Source) Close() error {
	s.giveBack()
	if s.shut {
		return nil
	}
	s.shut = true
	return s.mode.close(s.b.DrainOr())
}

// RegisterLag exports the source's Lag as veil_<stage>_consumer_lag.
func RegisterLag(reg prometheus.Registerer, stage string, s *Source) error {
	err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "veil_" + stage + "_consumer_lag",
		Help: "Records between the last fetched offset and the end of the partitions this instance reads.",
	}, func() float64 { return float64(s.Lag()) }))
	if err != nil {
		return fmt.Errorf("stream: register the consumer lag of %s: %w", stage, err)
	}
	return nil
}

func (b Batching) withDefaults() Batching {
	if b.MaxRecords <= 0 {
		b.MaxRecords = 5000
	}
	if b.MaxWait <= 0 {
		b.MaxWait = 200 * time.Millisecond
	}
	return b
}

// GroupReader is what a member reads with: a kafka-go *Reader with a GroupID,
// or a fake in tests.
type GroupReader interface {
	Fetcher
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// NewMember returns a source reading topic as a member of consumer group
// (ReaderConfig: a new group starts at the earliest offset; commits are
// synchronous).
func NewMember(c Cluster, group, topic string, b Batching, log *slog.Logger) *Source {
	return MemberOf(kafka.NewReader(ReaderConfig(c, group, topic)), b, log)
}

// MemberOf returns a member source reading from r. Close closes r when it is an
// io.Closer.
func MemberOf(r GroupReader, b Batching, log *slog.Logger) *Source {
	return &Source{b: b.withDefaults(), mode: &member{r: r, log: log}}
}

type member struct {
	r   GroupReader
	log *slog.Logger
}

func (m *member) collect(ctx context.Context, bt Batching, b *Batch) error {
	wait := ctx
	if bt.Idle > 0 {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, bt.Idle)
		defer cancel()
	}
	first, err := Fetch(wait, m.r, m.log)
	switch {
	case err != nil && ctx.Err() == nil:
		return ErrIdle
	case err != nil:
		return err
	}
	b.Taken = time.Now()
	b.Messages = append(b.Messages, first)
	fill, cancel := context.WithTimeout(ctx, bt.MaxWait)
	defer cancel()
	next := func() (kafka.Message, error) { return m.r.FetchMessage(fill) }
	if bt.Idle > 0 { // each record waits Idle at most
		next = func() (kafka.Message, error) {
			fill, cancel := context.WithTimeout(ctx, bt.Idle)
			defer cancel()
			return m.r.FetchMessage(fill)
		}
	}
	for len(b.Messages) < bt.MaxRecords {
		msg, err := next()
		if err != nil {
			break
		}
		b.Messages = append(b.Messages, msg)
	}
	b.ack = func(ctx context.Context, msgs []kafka.Message) error { return m.r.CommitMessages(ctx, msgs...) }
	return nil
}

func (m *member) lag() int64 {
	if r, ok := m.r.(interface{ Stats() kafka.ReaderStats }); ok {
		return r.Stats().Lag
	}
	return 0
}

func (m *member) close(time.Duration) error {
	if c, ok := m.r.(io.Closer); ok {
		return Close(c, "group reader")
	}
	return nil
}

// feed carries the records of partition readers to Next.
type feed chan kafka.Message

// take appends to b one record from f (waiting until ctx or done ends, or
// bt.Idle passes) and then what else f holds or receives within bt.MaxWait (of
// the first record; of the last one with bt.Idle), up to bt.MaxRecords; a
// MaxWait of 0 takes only what f already holds. It returns ctx's error,
// errEnded when done ended first, or ErrIdle.
func (f feed) take(ctx context.Context, done <-chan struct{}, bt Batching, b *Batch) error {
	var idle <-chan time.Time
	if bt.Idle > 0 {
		t := time.NewTimer(bt.Idle)
		defer t.Stop()
		idle = t.C
	}
	select {
	case m := <-f:
		b.Messages = append(b.Messages, m)
	case <-done:
		return errEnded
	case <-idle:
		return ErrIdle
	case <-ctx.Done():
		return ctx.Err()
	}
	b.Taken = time.Now()
	wait := bt.MaxWait
	if bt.Idle > 0 {
		wait = bt.Idle
	}
	var timeout <-chan time.Time
	var t *time.Timer
	if wait > 0 {
		t = time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for len(b.Messages) < bt.MaxRecords {
		select {
		case m := <-f:
			b.Messages = append(b.Messages, m)
			continue
		default:
		}
		if timeout == nil {
			return nil
		}
		select {
		case m := <-f:
			b.Messages = append(b.Messages, m)
			if bt.Idle > 0 {
				t.Reset(wait)
			}
		case <-timeout:
			return nil
		case <-done:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// errEnded is take's answer when its feed ended before a record came.
var errEnded = errors.New("stream: feed ended")

// partitionReader returns a reader of one partition, outside any group,
// fetching at most fetchBytes at a time and holding up to queue records ahead.
func partitionReader(c Cluster, topic string, partition, fetchBytes, queue int) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.Brokers, Dialer: c.Dialer(), Topic: topic, Partition: partition,
		MinBytes: 1, MaxBytes: fetchBytes, MaxWait: 100 * time.Millisecond, QueueCapacity: queue,
		ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: time.Second,
	})
}

// pump hands r's records to f until ctx ends, calling fetched after each.
func pump(ctx context.Context, r *kafka.Reader, f feed, log *slog.Logger, fetched func(kafka.Message)) {
	for {
		m, err := Fetch(ctx, r, log)
		if err != nil {
			return // ctx is done
		}
		if fetched != nil {
			fetched(m)
		}
		select {
		case f <- m:
		case <-ctx.Done():
			return
		}
	}
}

// lags keeps the last lag of each partition a source reads.
type lags struct {
	mu sync.Mutex
	by map[int]int64
}

func (l *lags) set(p int, n int64) {
	l.mu.Lock()
	if l.by == nil {
		l.by = map[int]int64{}
	}
	l.by[p] = n
	l.mu.Unlock()
}

func (l *lags) drop(p int) {
	l.mu.Lock()
	delete(l.by, p)
	l.mu.Unlock()
}

func (l *lags) total() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, v := range l.by {
		n += v
	}
	return n
}
