package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Assignment is one partition a generation of a consumer group assigned to
// this instance, and the offset it is read from: the one the group committed,
// or kafka.FirstOffset (-2, the earliest) when it committed none.
type Assignment struct {
	Generation int32
	Topic      string
	Partition  int
	Offset     int64
}

// AssignedConfig configures NewAssigned.
type AssignedConfig struct {
	Group string // the consumer group
	Topic string
	// Prepare, when set, is called for each assigned partition before it is
	// read, and retried with backoff until it succeeds or the generation ends:
	// the place to load what handling the partition's records needs. The
	// Prepare calls of a generation run concurrently, and only after every
	// batch of the previous generation was given back.
	Prepare func(ctx context.Context, a Assignment) error
	// Lag, when set, is told a partition's lag (records behind its end) after
	// each fetch.
	Lag func(partition int, lag int64)
	// FetchBytes is the most one fetch of a partition returns, default 4 MiB;
	// Queue is how many fetched records a partition's reader holds ahead, default
	// 1000; Feed is how many records the partitions hold ahead of Next together,
	// default 4096.
	FetchBytes int
	Queue      int
	Feed       int
}

// NewAssigned returns a source that joins the group and reads the partitions
// each generation assigns this instance, each from the offset the group
// committed (the earliest for a new group), after AssignedConfig.Prepare. A batch holds
// records of any of the generation's partitions, in order within each; its
// Context ends with the generation, and Ack commits the offset after its last
// record of each partition through that generation. A generation ends at a
// rebalance or at Close, and only once the batch in hand was given back (by
// Next or Close): the next one starts after it.
func NewAssigned(c Cluster, cfg AssignedConfig, b Batching, log *slog.Logger) (*Source, error) {
	if cfg.FetchBytes <= 0 {
		cfg.FetchBytes = 4 << 20
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1000
	}
	if cfg.Feed <= 0 {
		cfg.Feed = 4096
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                cfg.Group,
		Brokers:           c.Brokers,
		Dialer:            c.Dialer(),
		Topics:            []string{cfg.Topic},
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  time.Second,
		Timeout:           10 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("stream: consumer group %s: %w", cfg.Group, err)
	}
	run, stop := context.WithCancel(context.Background())
	a := &assigned{c: c, cfg: cfg, group: group, log: log, stop: stop, changed: make(chan struct{}), ran: make(chan struct{})}
	go a.run(run)
	return &Source{b: b.withDefaults(), mode: a}, nil
}

type assigned struct {
	c     Cluster
	cfg   AssignedConfig
	group *kafka.ConsumerGroup
	log   *slog.Logger
	stop  context.CancelFunc
	ran   chan struct{} // closed when run returned
	lags  lags

	mu      sync.Mutex
	cur     *generation   // the latest generation; nil before the first
	changed chan struct{} // closed and replaced when cur changes
}

// generation is what a Source knows of one generation of its group.
type generation struct {
	gen  *kafka.Generation
	ctx  context.Context // ends with the generation
	feed feed

	mu      sync.Mutex
	out     bool          // a batch of it is the caller's, or being gathered
	ended   bool          // it ended: no batch is gathered from it any more
	idle    chan struct{} // closed when it has ended and no batch is out
	idleSet bool
}

// run joins one generation after another until ctx ends.
func (a *assigned) run(ctx context.Context) {
	defer close(a.ran)
	for {
		gen, err := a.group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			// The group keeps retrying on its own (coordinator not yet
			// available, broker restarting...); Next only reports it.
			a.log.Warn("consumer group not joined yet; retrying", "group", a.cfg.Group, "err", err)
			continue
		}
		g := &generation{gen: gen, feed: make(feed, a.cfg.Feed), idle: make(chan struct{})}
		started := make(chan context.Context, 1)
		// The generation ends only once the batch in hand is given back.
		gen.Start(func(gctx context.Context) {
			started <- gctx
			<-gctx.Done()
			g.end()
			<-g.idle
		})
		g.ctx = <-started
		var ids []int
		for topic, parts := range gen.Assignments {
			for _, p := range parts {
				ids = append(ids, p.ID)
				as := Assignment{Generation: gen.ID, Topic: topic, Partition: p.ID, Offset: p.Offset}
				gen.Start(func(gctx context.Context) { a.read(gctx, as, g.feed) })
			}
		}
		a.log.Info("partitions assigned", "group", a.cfg.Group, "generation", gen.ID, "topic", a.cfg.Topic, "partitions", ids)
		a.mu.Lock()
		a.cur = g
		close(a.changed)
		a.changed = make(chan struct{})
		a.mu.Unlock()
	}
}

// read prepares one assigned partition and hands its records to the
// generation's feed until the generation ends.
func (a *assigned) read(ctx context.Context, as Assignment, f feed) {
	log := a.log.With("partition", as.Partition)
	defer a.lags.drop(as.Partition)
	if a.cfg.Prepare != nil {
		if err := Retry(ctx, log, func() error { return a.cfg.Prepare(ctx, as) }); err != nil {
			return // the generation ended first
		}
	}
	r := partitionReader(a.c, as.Topic, as.Partition, a.cfg.FetchBytes, a.cfg.Queue)
	defer r.Close()
	if err := r.SetOffset(as.Offset); err != nil {
		// Ends the generation: the group assigns the partition again.
		log.Error("cannot seek", "offset", as.Offset, "err", err)
		return
	}
	log.Debug("partition started", "offset", as.Offset)
	pump(ctx, r, f, log, func(kafka.Message) {
		n := r.Lag()
		a.lags.set(as.Partition, n)
		if a.cfg.Lag != nil {
			a.cfg.Lag(as.Partition, n)
		}
	})
}

// end marks g ended; idle is closed once no batch of it is out.
func (g *generation) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ended = true
	if !g.out && !g.idleSet {
		g.idleSet = true
		close(g.idle)
	}
}

// take reserves g for one batch; false when it has ended.
func (g *generation) take() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		return false
	}
	g.out = true
	return true
}

// giveBack ends the reservation of take.
func (g *generation) giveBack() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.out = false
	if g.ended && !g.idleSet {
		g.idleSet = true
		close(g.idle)
	}
}

func (a *assigned) collect(ctx context.Context, bt Batching, b *Batch) error {
	for {
		a.mu.Lock()
		g, changed := a.cur, a.changed
		a.mu.Unlock()
		if g == nil || !g.take() {
			select {
			case <-changed:
				continue
			case <-a.ran:
				return ErrClosed
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := g.feed.take(ctx, g.ctx.Done(), bt, b)
		if errors.Is(err, errEnded) {
			g.giveBack()
			continue // the generation ended before a record came: wait for the next
		}
		if err != nil {
			g.giveBack()
			return err
		}
		topic := a.cfg.Topic
		b.ctx, b.release = g.ctx, g.giveBack
		b.ack = func(_ context.Context, msgs []kafka.Message) error {
			next := map[int]int64{}
			for _, m := range msgs {
				next[m.Partition] = m.Offset + 1 // a partition's records arrive in order
			}
			return g.gen.CommitOffsets(map[string]map[int]int64{topic: next})
		}
		return nil
	}
}

func (a *assigned) lag() int64 { return a.lags.total() }

// close ends the generation and leaves the group: the group's Close waits for
// the generation's partitions to stop (at most drain, which they do at once
// once no batch is out), then for the coordinator (CloseTimeout).
func (a *assigned) close(drain time.Duration) error {
	a.stop()
	closed := make(chan error, 1)
	go func() { closed <- a.group.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			return fmt.Errorf("stream: leave consumer group %s: %w", a.cfg.Group, err)
		}
		return nil
	case <-time.After(drain + CloseTimeout):
		return fmt.Errorf("stream: leave consumer group %s: Kafka did not let go within %s; left closing in the background (the coordinator notices after the session timeout)", a.cfg.Group, drain+CloseTimeout)
	}
}
