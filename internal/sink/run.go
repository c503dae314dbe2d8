package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/dedup"
	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

type metrics struct {
	rows     *prometheus.CounterVec
	skipped  prometheus.Counter
	dups     prometheus.Counter
	caughtUp prometheus.Counter
	dead     *prometheus.CounterVec
	insert   prometheus.Histogram
	failures prometheus.Counter
	lag      *prometheus.GaugeVec
	delay    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "veil_sink_rows_inserted_total", Help: "Rows ClickHouse acknowledged, by table."}, []string{"table"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_sink_records_skipped_total",
			Help: "Records delivered again whose rows ClickHouse already had (crash or rebalance replay)."}),
		dups: prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_sink_duplicates_total",
			Help: "Copies of an event stored within the dedup horizon (same event id at another offset) that were not inserted again."}),
		caughtUp: prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_sink_dedup_caught_up_ids_total",
			Help: "Event ids added to the dedup index from ClickHouse when a partition was assigned (stored by another instance, or before a crash)."}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "veil_sink_deadletters_total", Help: "Records sent to the dead-letter topic, by reason."}, []string{"reason"}),
		insert: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "veil_sink_insert_seconds", Help: "Time for ClickHouse to acknowledge one INSERT.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_sink_insert_failures_total", Help: "INSERTs that failed and were retried."}),
		lag:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "veil_sink_consumer_lag", Help: "Records behind the end of the partition, per assigned partition."}, []string{"partition"}),
	}
	// Clean records carry no time finer than the hour, so the sink cannot tell
	// how old an event is; it measures its own share of the delay, and
	// scripts/bench measures the whole with marker events of its own.
	m.delay = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "veil_sink_batch_delay_seconds",
		Help:    "Per batch: from the moment its first record was taken until ClickHouse acknowledged every INSERT of the batch (the sink's share of an event's delay).",
		Buckets: []float64{.01, .025, .05, .075, .1, .15, .2, .3, .4, .5, .75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 30, 60, 120, 300}})
	reg.MustRegister(m.rows, m.skipped, m.dups, m.caughtUp, m.dead, m.insert, m.failures, m.lag, m.delay)
	return m
}

// Migrate connects to ClickHouse and applies the embedded migrations; with
// --clickhouse-cluster, to every server of the cluster (migrateCluster).
func Migrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	reg, err := schemas.Load()
	if err != nil {
		return err
	}
	if cfg.ClickHouse.Cluster != "" {
		return migrateCluster(ctx, cfg, reg, log)
	}
	st, err := chstore.Open(ctx, cfg.ClickHouseOptions(), reg)
	if err != nil {
		return err
	}
	defer st.Close()
	done, err := st.Migrate(ctx)
	for _, m := range done {
		log.Info("migration applied", "migration", m.Name)
	}
	if err == nil {
		log.Info("schema up to date", "database", st.Database(), "server", st.Version(), "low_cardinality", st.Features().LowCardinality)
	}
	return err
}

// Run consumes the clean topic into ClickHouse until ctx is done. It applies the
// migrations first. On shutdown the batch in hand is inserted and committed if
// that succeeds within stream.DrainTimeout without a retry; otherwise it stays
// uncommitted, is loaded by the next run, and Run returns an error saying so.
func Run(ctx context.Context, cfg Config, log *slog.Logger, reg *prometheus.Registry) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := cfg.Kafka.Ensure(ctx); err != nil {
		return err
	}
	if err := Migrate(ctx, cfg, log); err != nil {
		return err
	}
	schemaReg, err := schemas.Load()
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, schemaReg)
	if err != nil {
		return err
	}
	defer st.Close()
	cluster, err := cfg.Kafka.Cluster()
	if err != nil {
		return err
	}
	idx, err := dedup.Open(dedup.Options{
		Dir: cfg.Dedup.Dir, Horizon: cfg.Dedup.Horizon, Memory: int64(cfg.Dedup.MemoryMiB) << 20,
		Identity: st.Database() + " " + cfg.Kafka.Topics.Clean, Log: log.With("component", "dedup"),
	})
	if err != nil {
		return fmt.Errorf("sink: --dedup-dir: %w", err)
	}
	defer func() {
		if err := idx.Close(); err != nil {
			log.Warn("closing the dedup index", "err", err) // ClickHouse has what it lost: the next start catches up
		}
	}()
	dlq, err := cfg.Kafka.Writer("") // dead letters name their topic; kafka-go refuses a topic in both places
	if err != nil {
		return err
	}
	defer stream.Close(dlq, "dead-letter writer")
	s := &sinker{cfg: cfg, cluster: cluster, log: log, store: st, idx: idx, schemas: schemaReg, dlq: dlq, m: newMetrics(reg), shutdown: ctx, fatal: make(chan error, 1)}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "veil_sink_dedup_index_bytes",
		Help: "Disk space of the index of stored event ids."}, func() float64 { return float64(idx.DiskBytes()) }))

	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                cfg.Group,
		Brokers:           cluster.Brokers,
		Dialer:            cluster.Dialer(),
		Topics:            []string{cfg.Kafka.Topics.Clean},
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  time.Second,
		Timeout:           10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("sink: consumer group: %w", err)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return obs.Serve(ctx, cfg.MetricsAddr, obs.Handler(reg, map[string]obs.Check{
			"kafka":      stream.Ping(cluster),
			"clickhouse": st.Ping,
		}), log)
	})
	g.Go(func() error {
		<-ctx.Done()
		// Closing ends the generation: the loader drains (within
		// stream.DrainTimeout) and the partition loops return; then the member
		// leaves the group, which gets stream.CloseTimeout.
		closed := make(chan struct{})
		go func() { group.Close(); close(closed) }()
		select {
		case <-s.loaderDone():
		case <-time.After(s.cfg.Batch.DrainOr()):
		}
		select {
		case <-closed:
		case <-time.After(stream.CloseTimeout):
			log.Warn("leaving the consumer group takes too long; going without: the coordinator notices after the session timeout")
		}
		return nil
	})
	g.Go(func() error {
		select {
		case err := <-s.fatal: // the index failed: stop rather than store copies
			return err
		case <-ctx.Done():
			return nil
		}
	})
	g.Go(func() error { s.expire(ctx); return nil })
	g.Go(func() error {
		log.Info("sink consuming", "topic", cfg.Kafka.Topics.Clean, "group", cfg.Group, "clickhouse", cfg.ClickHouse.Addr, "clickhouse_user", cfg.ClickHouse.User, "server", st.Version())
		for {
			gen, err := group.Next(ctx)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
					return nil
				}
				// The group keeps retrying on its own (coordinator not yet
				// available, broker restarting...); Next only reports it.
				log.Warn("consumer group not joined yet; retrying", "group", cfg.Group, "err", err)
				continue
			}
			// One loader per generation batches the records of every partition
			// this instance holds: one INSERT per table, however many partitions.
			feed := make(chan record, feedCapacity)
			loaded := make(chan struct{})
			s.mu.Lock()
			s.loaded = loaded
			s.mu.Unlock()
			gen.Start(func(gctx context.Context) { defer close(loaded); s.loader(gctx, gen, feed) })
			for topic, parts := range gen.Assignments {
				ids := make([]int, 0, len(parts))
				for _, p := range parts {
					topic, p := topic, p
					ids = append(ids, p.ID)
					gen.Start(func(gctx context.Context) { s.feed(gctx, topic, p.ID, p.Offset, feed) })
				}
				log.Info("partitions assigned", "generation", gen.ID, "topic", topic, "partitions", ids)
			}
		}
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if n := s.unloaded.Load(); n > 0 {
		return fmt.Errorf("sink: shutdown left %d records unloaded and uncommitted (the next run loads them)", n)
	}
	return nil
}

type sinker struct {
	cfg     Config
	cluster stream.Cluster
	log     *slog.Logger
	store   store
	idx     *dedup.Index
	schemas *schemas.Registry
	dlq     *kafka.Writer
	m       *metrics
	// shutdown is Run's context; unloaded counts the records of batches the
	// loader gave up on once it was done.
	shutdown context.Context
	unloaded atomic.Int64
	mu       sync.Mutex
	loaded   chan struct{} // closed when the loader of the latest generation returns
	fatal    chan error    // an error that must stop the sink
}

// loaderDone returns a channel closed once no loader runs.
func (s *sinker) loaderDone() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded == nil {
		done := make(chan struct{})
		close(done)
		return done
	}
	return s.loaded
}

// stop hands err to Run, which stops the sink with it.
func (s *sinker) stop(err error) {
	select {
	case s.fatal <- err:
	default: // one is enough
	}
}

// fetchBytes is the most one fetch of a partition returns.
const fetchBytes = 4 << 20

// readerQueue is how many fetched records a partition's reader holds ahead of
// its feeder, and feedCapacity how many the feeders hold ahead of the loader.
const (
	readerQueue  = 1000
	feedCapacity = 4096
)

// record is one fetched record and the state of the partition it came from.
type record struct {
	msg  kafka.Message
	part *partState
}

// partState is what loading needs to know of one assigned partition: the
// offsets ClickHouse already has. Its feeder fills it, and catches the dedup
// index up with the partition, before sending the first record; from then on
// only the loader touches it.
type partState struct {
	resume map[chstore.ResumeKey]int64
}

// feed reads one partition from start and hands its records to the loader until
// the generation ends (rebalance or shutdown). The loader's pace is the feeder's:
// while ClickHouse is down, feed blocks and the reader stops fetching once its
// queue is full. That is the backpressure.
func (s *sinker) feed(ctx context.Context, topic string, part int, start int64, out chan<- record) {
	log := s.log.With("partition", part)
	st := &partState{}
	caughtUp := int64(0)
	if err := stream.Retry(ctx, log, func() (err error) {
		st.resume, err = s.store.Resume(ctx, part)
		if err != nil {
			return err
		}
		n, err := s.catchUp(ctx, part, log)
		caughtUp += n
		return err
	}); err != nil {
		return // generation over before ClickHouse answered
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: s.cluster.Brokers, Dialer: s.cluster.Dialer(), Topic: topic, Partition: part,
		MinBytes: 1, MaxBytes: fetchBytes, MaxWait: 100 * time.Millisecond, QueueCapacity: readerQueue,
		ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: time.Second,
	})
	defer r.Close()
	if err := r.SetOffset(start); err != nil {
		log.Error("cannot seek", "offset", start, "err", err)
		return
	}
	log.Debug("partition started", "offset", start, "resume_points", len(st.resume), "ids_caught_up", caughtUp)
	lag := s.m.lag.WithLabelValues(strconv.Itoa(part))
	for {
		m, err := stream.Fetch(ctx, r, log)
		if err != nil {
			return // generation ended
		}
		lag.Set(float64(r.Lag()))
		select {
		case out <- record{m, st}:
		case <-ctx.Done():
			return
		}
	}
}

// loader collects the records the feeders send into batches of up to
// --batch-records, inserts each batch and then commits every partition it
// holds, until the generation ends. The batch in hand when it ends is still
// inserted and committed if that succeeds within stream.DrainTimeout without a
// retry; if the commit fails, the next owner of a partition skips what was
// inserted.
func (s *sinker) loader(ctx context.Context, gen *kafka.Generation, in <-chan record) {
	rows := map[string]*chstore.Rows{}
	batch := make([]record, 0, s.cfg.Batch.MaxRecords)
	ids := s.idx.NewBatch()
	defer ids.Close()
	var sc lookups
	for {
		clear(batch[:cap(batch)]) // let the last batch's records go before taking more
		var first time.Time
		batch, first = collect(ctx, in, s.cfg.Batch, batch[:0])
		if len(batch) == 0 {
			return // generation ended
		}
		// While the generation lives, a ClickHouse outage is waited out.
		work, cancelWork := stream.DrainContextFor(ctx, s.cfg.Batch.Drain)
		err := s.load(work, batch, rows, ids, &sc)
		indexed := err == nil
		if err == nil {
			// The index learns the batch only now that ClickHouse has it: a
			// crash in between loses nothing, since the next owner catches
			// the index up from ClickHouse.
			if err = ids.Commit(); err != nil {
				s.stop(err)
			}
		}
		if err == nil {
			s.m.delay.Observe(time.Since(first).Seconds())
			next := map[int]int64{}
			for _, r := range batch {
				next[r.msg.Partition] = r.msg.Offset + 1 // a partition's records arrive in order
			}
			if cerr := gen.CommitOffsets(map[string]map[int]int64{s.cfg.Kafka.Topics.Clean: next}); cerr != nil {
				s.log.Warn("commit failed; ClickHouse already has the rows, replay will skip them", "partitions", len(next), "err", cerr)
			}
		}
		cancelWork()
		if err != nil && !indexed && s.shutdown.Err() != nil {
			s.unloaded.Add(int64(len(batch)))
			s.log.Warn("shutdown: batch not loaded, left uncommitted", "records", len(batch), "err", err)
		}
		if err != nil || ctx.Err() != nil {
			if err != nil && ctx.Err() == nil {
				s.log.Error("loader stopped", "err", err)
			}
			return
		}
	}
}

// collect appends to batch one record (waiting for it until ctx ends) and then
// whatever else arrives within b.MaxWait, up to b.MaxRecords, and the time the
// first record arrived. It returns the batch empty only when ctx ended before
// the first record.
func collect(ctx context.Context, in <-chan record, b stream.Batching, batch []record) ([]record, time.Time) {
	select {
	case r := <-in:
		batch = append(batch, r)
	case <-ctx.Done():
		return batch, time.Time{}
	}
	first := time.Now()
	fill := time.NewTimer(b.MaxWait)
	defer fill.Stop()
	for len(batch) < b.MaxRecords {
		select {
		case r := <-in:
			batch = append(batch, r)
		case <-fill.C:
			return batch, first
		case <-ctx.Done():
			return batch, first
		}
	}
	return batch, first
}

// load turns a batch into rows, dead-letters what cannot be loaded, drops the
// records ClickHouse has and the copies of events stored within the horizon,
// and inserts the rows of every table, retrying until ClickHouse accepts them
// or ctx ends. It adds the ids of the batch to ids, which the caller commits
// once load succeeded. An error of the index stops the sink.
func (s *sinker) load(ctx context.Context, batch []record, rows map[string]*chstore.Rows, ids *dedup.Batch, sc *lookups) error {
	for _, r := range rows {
		r.Reset()
	}
	sc.reset()
	// After collect: every partition in the batch has caught its index up, and
	// the lookups below see it.
	ids.Reset()
	var dead []kafka.Message
	deadLetter := func(m kafka.Message, reason string, err error) {
		s.m.dead.WithLabelValues(reason).Inc()
		dead = append(dead, stream.DeadLetter(s.cfg.Kafka.Topics.DeadLetter, "sink", reason, err, m, time.Now()))
	}
	var rec []schemas.Value // reused: its strings alias the batch's buffers, which outlive the inserts
	for _, r := range batch {
		m := r.msg
		sch, err := s.schemas.Writer(m.Value)
		if err == nil {
			rec, err = sch.DecodeFlat(m.Value[10:], rec)
		}
		if err != nil {
			deadLetter(m, "undecodable", err)
			continue
		}
		t, ok := s.store.Table(sch.Kind)
		if !ok || sch.Stage != schemas.Clean {
			deadLetter(m, "no-table", fmt.Errorf("no table for %s schema %s", sch.Stage, sch.Name))
			continue
		}
		rs := rows[sch.Kind]
		if rs == nil {
			rs = chstore.NewRows(t)
			rows[sch.Kind] = rs
		}
		if err := rs.AppendFlat(rec, m.Partition, m.Offset); err != nil {
			deadLetter(m, "unloadable", err)
			continue
		}
		id := dedup.IDOf(sch.EventID(rec))
		key := chstore.ResumeKey{Table: t.Name, Partition: m.Partition, Month: rs.Month(rs.Len() - 1)}
		if last, ok := r.part.resume[key]; ok && m.Offset <= last {
			rs.DropLast() // this very record is stored already
			s.m.skipped.Inc()
			ids.Add(m.Partition, id) // the catch-up has it too, unless a view's insert was lost
			ids.Advance(m.Partition, dedup.Checkpoint{Indexed: m.Offset, Stored: m.Offset})
			continue
		}
		sc.queries = append(sc.queries, dedup.Query{Part: m.Partition, ID: id})
		sc.rows = append(sc.rows, rowAt{rs, rs.Len() - 1, m.Offset})
	}
	// One lookup for the whole batch: the index answers in key order, which
	// is several times cheaper than record by record.
	if err := ids.Lookup(sc.queries); err != nil {
		s.stop(err)
		return err
	}
	for i, q := range sc.queries {
		at := sc.rows[i]
		if q.Dup { // another copy of this event is stored, or earlier in this batch
			sc.drop[at.rows] = append(sc.drop[at.rows], at.row)
			ids.Advance(q.Part, dedup.Checkpoint{Indexed: at.offset, Stored: -1})
		} else {
			ids.Advance(q.Part, dedup.Checkpoint{Indexed: at.offset, Stored: at.offset})
		}
	}
	for rs, drop := range sc.drop {
		s.m.dups.Add(float64(rs.DropRows(drop)))
	}
	if len(dead) > 0 {
		if err := stream.Retry(ctx, s.log, func() error { return s.dlq.WriteMessages(ctx, dead...) }); err != nil {
			return fmt.Errorf("sink: dead-letter %d records: %w", len(dead), err)
		}
	}
	// The tables' INSERTs run at once: the batch waits for the slowest rather
	// than for their sum, and ClickHouse writes each on its own thread.
	g, gctx := errgroup.WithContext(ctx)
	for kind, rs := range rows {
		if rs.Len() == 0 {
			continue
		}
		g.Go(func() error {
			if err := s.insert(gctx, rs, batch); err != nil {
				return err
			}
			s.m.rows.WithLabelValues(kind).Add(float64(rs.Len()))
			return nil
		})
	}
	return g.Wait()
}

// insert sends rs as one INSERT, retrying until ClickHouse acknowledges it or ctx
// ends. Before a retry it drops the rows the server stored anyway: a failed
// INSERT may have been written and failed only to answer.
func (s *sinker) insert(ctx context.Context, rs *chstore.Rows, batch []record) error {
	failed := false
	return stream.Retry(ctx, s.log, func() error {
		if failed {
			stored, err := s.store.Resume(ctx, partitionsOf(batch)...)
			if err != nil {
				return err
			}
			if n := rs.DropStored(stored); n > 0 {
				s.log.Warn("a failed INSERT was stored after all; not inserting it again", "table", rs.Table().Name, "rows", n)
				s.m.skipped.Add(float64(n))
			}
			if rs.Len() == 0 {
				return nil
			}
		}
		start := time.Now()
		err := s.store.Insert(ctx, rs)
		failed = err != nil
		if err != nil {
			s.m.failures.Inc()
			return err
		}
		s.m.insert.Observe(time.Since(start).Seconds())
		return nil
	})
}

// lookups is the memory load keeps from one batch to the next for the index
// lookups: a query per record to insert, and where its row is.
type lookups struct {
	queries []dedup.Query
	rows    []rowAt
	drop    map[*chstore.Rows][]int // rows found to be copies, ascending per table
}

// rowAt is where a record's row is in its table's buffer.
type rowAt struct {
	rows   *chstore.Rows
	row    int
	offset int64
}

func (l *lookups) reset() {
	l.queries = l.queries[:0]
	clear(l.rows) // let the last batch's buffers go
	l.rows = l.rows[:0]
	if l.drop == nil {
		l.drop = map[*chstore.Rows][]int{}
	}
	for rs, d := range l.drop {
		l.drop[rs] = d[:0]
	}
}

// partitionsOf lists the partitions a batch holds records of.
func partitionsOf(batch []record) []int {
	var parts []int
	seen := map[int]bool{}
	for _, r := range batch {
		if !seen[r.msg.Partition] {
			seen[r.msg.Partition] = true
			parts = append(parts, r.msg.Partition)
		}
	}
	return parts
}
