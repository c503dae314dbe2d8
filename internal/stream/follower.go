package stream

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// followerBatch bounds a follower's batches: it never waits for a batch to
// fill, so that a record is applied as soon as it is read.
const followerBatch = 1000

// NewFollower returns a source that reads every partition of topic from its
// start, without a consumer group, until it is closed: the way to load a
// compacted topic whole and then follow it. Its batches hold what has arrived,
// without waiting for more. Loaded is closed once every record present in a
// partition when the follower began reading it was acknowledged. It fails when
// the topic's partitions cannot be listed; where each partition ends is asked
// again until its leader answers.
func NewFollower(ctx context.Context, c Cluster, topic string, log *slog.Logger) (*Source, error) {
	n, err := PartitionCount(ctx, c, topic)
	if err != nil {
		return nil, err
	}
	run, stop := context.WithCancel(context.WithoutCancel(ctx))
	f := &follower{
		feed: make(feed, followerBatch), stop: stop, ends: make([]int64, n), pending: n,
		loaded: make(chan struct{}), log: log,
	}
	for i := range f.ends {
		f.ends[i] = -1 // not known yet
	}
	f.wg.Add(n)
	for p := range n {
		go func() {
			defer f.wg.Done()
			f.read(run, c, topic, p)
		}()
	}
	return &Source{b: Batching{MaxRecords: followerBatch}, mode: f}, nil
}

type follower struct {
	feed feed
	stop context.CancelFunc
	wg   sync.WaitGroup
	log  *slog.Logger
	lags lags

	mu      sync.Mutex
	ends    []int64 // per partition: its end offset when reading began; -1 until known
	done    []bool  // per partition: everything before its end was acknowledged
	pending int     // partitions not done
	loaded  chan struct{}
}

// Loaded is closed once every record present when the follower began reading
// was acknowledged: the state a compacted topic holds is loaded. Other modes
// never close it.
func (s *Source) Loaded() <-chan struct{} {
	if f, ok := s.mode.(*follower); ok {
		return f.loaded
	}
	return nil
}

// read follows one partition until ctx ends.
func (f *follower) read(ctx context.Context, c Cluster, topic string, p int) {
	log := f.log.With("topic", topic, "partition", p)
	// Where the partition ends now: everything before it is the state to load.
	// Leadership can still be settling right after the topic was created, or a
	// broker restarting.
	var end int64
	if err := Retry(ctx, log, func() error {
		conn, err := c.DialLeader(ctx, topic, p)
		if err != nil {
			return fmt.Errorf("stream: dial %s/%d: %w", topic, p, err)
		}
		defer conn.Close()
		if _, end, err = conn.ReadOffsets(); err != nil {
			return fmt.Errorf("stream: offsets of %s/%d: %w", topic, p, err)
		}
		return nil
	}); err != nil {
		return // closed
	}
	f.mu.Lock()
	f.ends[p] = end
	f.mu.Unlock()
	if end == 0 {
		f.acked(p, -1)
	}
	r := partitionReader(c, topic, p, 1<<20, 100)
	defer r.Close()
	pump(ctx, r, f.feed, log, func(kafka.Message) { f.lags.set(p, r.Lag()) })
}

func (f *follower) collect(ctx context.Context, bt Batching, b *Batch) error {
	if err := f.feed.take(ctx, nil, bt, b); err != nil {
		return err
	}
	b.ack = func(_ context.Context, msgs []kafka.Message) error {
		for _, m := range msgs {
			f.acked(m.Partition, m.Offset)
		}
		return nil
	}
	return nil
}

// acked records that partition p was applied up to offset.
func (f *follower) acked(p int, offset int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done == nil {
		f.done = make([]bool, len(f.ends))
	}
	if f.done[p] || f.ends[p] < 0 || offset+1 < f.ends[p] {
		return
	}
	f.done[p] = true
	if f.pending--; f.pending == 0 {
		close(f.loaded)
	}
}

func (f *follower) lag() int64 { return f.lags.total() }

func (f *follower) close(time.Duration) error {
	f.stop()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(CloseTimeout):
		return fmt.Errorf("stream: close follower: its readers did not stop within %s; left closing in the background", CloseTimeout)
	}
}
