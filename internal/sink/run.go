package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
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
	for _, c := range []prometheus.Collector{m.rows, m.skipped, m.dups, m.caughtUp, m.dead, m.insert, m.failures, m.lag, m.delay} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("sink: register metrics: %w", err)
		}
	}
	return m, nil
}

// registerIndexSize exports the disk space of idx.
func registerIndexSize(reg prometheus.Registerer, idx *dedup.Index) error {
	err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "veil_sink_dedup_index_bytes",
		Help: "Disk space of the index of stored event ids."}, func() float64 { return float64(idx.DiskBytes()) }))
	if err != nil {
		return fmt.Errorf("sink: register metrics: %w", err)
	}
	return nil
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
// migrations first. Its metrics go to reg, which /metrics serves. On shutdown the batch in hand is inserted and committed if
// that succeeds within stream.DrainTimeout without a retry; otherwise it stays
// uncommitted, is loaded by the next run, and Run returns an error saying so.
func Run(ctx context.Context, cfg Config, log *slog.Logger, reg obs.Registry) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.ClickHouse.Cluster != "" {
		return errClusterRun
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
	st, err := chstore.Open(ctx, cfg.ClickHouseOptions(), schemaReg)
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
	m, err := newMetrics(reg)
	if err != nil {
		return err
	}
	if err := registerIndexSize(reg, idx); err != nil {
		return err
	}
	s := &sinker{cfg: cfg, log: log, store: st, idx: idx, schemas: schemaReg, dlq: dlq, m: m, fatal: make(chan error, 1)}
	src, err := stream.NewAssigned(cluster, stream.AssignedConfig{
		Group: cfg.Group, Topic: cfg.Kafka.Topics.Clean,
		Prepare: s.prepare,
		Lag:     func(part int, n int64) { s.m.lag.WithLabelValues(strconv.Itoa(part)).Set(float64(n)) },
	}, cfg.Batch, log)
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return obs.Serve(ctx, cfg.MetricsAddr, obs.Handler(reg, map[string]obs.Check{
			"kafka":      stream.Ping(cluster),
			"clickhouse": st.Ping,
		}), log)
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
		return s.consume(ctx, src)
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
	log     *slog.Logger
	store   *chstore.Store
	idx     *dedup.Index
	schemas *schemas.Registry
	dlq     *kafka.Writer
	m       *metrics
	// resume holds the offsets ClickHouse had of each partition this instance
	// was assigned, read when the partition was prepared (prepare). A map
	// published here is never changed: prepare publishes a new one.
	resumeMu sync.Mutex // serializes setResume
	resume   atomic.Pointer[map[chstore.ResumeKey]int64]
	unloaded atomic.Int64 // records of batches shutdown left unloaded
	fatal    chan error   // an error that must stop the sink
}

// stop hands err to Run, which stops the sink with it.
func (s *sinker) stop(err error) {
	select {
	case s.fatal <- err:
	default: // one is enough
	}
}

// prepare readies an assigned partition before its first record is loaded
// (stream.AssignedConfig.Prepare, retried until it succeeds or the generation
// ends): it reads the offsets ClickHouse stored of the partition per table and
// month, which loading skips, and catches the dedup index up with the
// partition. The source prepares a generation's partitions only once the
// batches of the previous one were given back, so no batch in hand still
// needs the resume points this replaces.
func (s *sinker) prepare(ctx context.Context, a stream.Assignment) error {
	log := s.log.With("partition", a.Partition)
	resume, err := s.store.Resume(ctx, a.Partition)
	if err != nil {
		return err
	}
	caughtUp, err := s.catchUp(ctx, a.Partition, log)
	if err != nil {
		return err
	}
	s.setResume(a.Partition, resume)
	log.Debug("partition prepared", "generation", a.Generation, "offset", a.Offset, "resume_points", len(resume), "ids_caught_up", caughtUp)
	return nil
}

// setResume publishes the resume points of part, replacing those it had.
func (s *sinker) setResume(part int, points map[chstore.ResumeKey]int64) {
	s.resumeMu.Lock()
	defer s.resumeMu.Unlock()
	next := map[chstore.ResumeKey]int64{}
	if old := s.resume.Load(); old != nil {
		for k, v := range *old {
			if k.Partition != part {
				next[k] = v
			}
		}
	}
	maps.Copy(next, points)
	s.resume.Store(&next)
}

// resumePoints returns the resume points of every partition prepared so far.
func (s *sinker) resumePoints() map[chstore.ResumeKey]int64 {
	if p := s.resume.Load(); p != nil {
		return *p
	}
	return nil
}

// consume loads the batches of src until ctx ends, then closes src.
func (s *sinker) consume(ctx context.Context, src *stream.Source) error {
	defer func() {
		if err := src.Close(); err != nil {
			s.log.Warn("closing the clean topic's source", "err", err)
		}
	}()
	rows := map[string]*chstore.Rows{}
	ids := s.idx.NewBatch()
	defer ids.Close()
	var sc lookups
	for ctx.Err() == nil {
		b, err := src.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, stream.ErrClosed) {
				return nil
			}
			return err
		}
		if err := s.loadBatch(ctx, b, rows, ids, &sc); err != nil {
			return err
		}
	}
	return nil
}

// loadBatch inserts a batch, adds its ids to the index and then commits every
// partition it holds. A ClickHouse outage is waited out while ctx and the
// batch's generation live. Once either ended (shutdown, rebalance), the batch
// is still inserted and committed if that succeeds within --drain-timeout
// without a retry; if the commit fails, the next owner of a partition skips
// what was inserted. It returns an error only when the sink must stop.
func (s *sinker) loadBatch(ctx context.Context, b *stream.Batch, rows map[string]*chstore.Rows, ids *dedup.Batch, sc *lookups) error {
	work, cancelWork := b.WorkContext(ctx, s.cfg.Batch.Drain)
	defer cancelWork()
	err := s.load(work, b.Messages, rows, ids, sc)
	indexed := err == nil
	if err == nil {
		// The index learns the batch only now that ClickHouse has it: a
		// crash in between loses nothing, since the next owner catches
		// the index up from ClickHouse.
		if err = ids.Commit(); err != nil {
			s.stop(err)
		}
	}
	switch {
	case err == nil:
		s.m.delay.Observe(time.Since(b.Taken).Seconds())
		if cerr := b.Ack(work); cerr != nil {
			s.log.Warn("commit failed; ClickHouse already has the rows, replay will skip them", "records", len(b.Messages), "err", cerr)
		}
		return nil
	case !indexed && ctx.Err() != nil:
		s.unloaded.Add(int64(len(b.Messages)))
		s.log.Warn("shutdown: batch not loaded, left uncommitted", "records", len(b.Messages), "err", err)
		return nil
	case !indexed && b.Context().Err() != nil:
		s.log.Info("partitions taken away: batch not loaded, left uncommitted for their next owner", "records", len(b.Messages), "err", err)
		return nil
	case ctx.Err() != nil:
		return nil
	}
	s.log.Error("loader stopped", "err", err)
	return err
}

// load turns a batch into rows, dead-letters what cannot be loaded, drops the
// records ClickHouse has and the copies of events stored within the horizon,
// and inserts the rows of every table, retrying until ClickHouse accepts them
// or ctx ends. It adds the ids of the batch to ids, which the caller commits
// once load succeeded. An error of the index stops the sink.
func (s *sinker) load(ctx context.Context, batch []kafka.Message, rows map[string]*chstore.Rows, ids *dedup.Batch, sc *lookups) error {
	for _, r := range rows {
		r.Reset()
	}
	sc.reset()
	// Every partition in the batch was prepared: it caught its index up, and
	// the lookups below see it.
	ids.Reset()
	resume := s.resumePoints()
	var dead []kafka.Message
	deadLetter := func(m kafka.Message, reason string, err error) {
		s.m.dead.WithLabelValues(reason).Inc()
		dead = append(dead, stream.DeadLetter(s.cfg.Kafka.Topics.DeadLetter, "sink", reason, err, m, time.Now()))
	}
	var rec []schemas.Value // reused: its strings alias the batch's buffers, which outlive the inserts
	for _, m := range batch {
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
		if last, ok := resume[key]; ok && m.Offset <= last {
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
func (s *sinker) insert(ctx context.Context, rs *chstore.Rows, batch []kafka.Message) error {
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
func partitionsOf(batch []kafka.Message) []int {
	var parts []int
	seen := map[int]bool{}
	for _, m := range batch {
		if !seen[m.Partition] {
			seen[m.Partition] = true
			parts = append(parts, m.Partition)
		}
	}
	return parts
}
