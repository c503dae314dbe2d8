package sink

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/veiltelemetry/veil/internal/dedup"
	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// Run consumes the clean topic into ClickHouse until ctx is done, top to
// bottom: it applies the migrations, opens ClickHouse, the dedup index and the
// dead-letter writer, registers its metrics in reg (which /metrics serves), and
// runs the loader (load.go) over the partitions the group assigns (each
// prepared by prepare.go), the expiry of old ids (dedup.go) and the metrics
// server. On shutdown the batch in hand is inserted and committed if that
// succeeds within --drain-timeout without a retry; otherwise it stays
// uncommitted, is loaded by the next run, and Run returns an error saying so.
func Run(ctx context.Context, cfg Config, log *slog.Logger, reg obs.Registry) error {
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
	m, err := newMetrics(reg)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, schemaReg, m, log)
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
	if err := registerIndexSize(reg, idx); err != nil {
		return err
	}
	s := &sinker{cfg: cfg, log: log, store: st, idx: idx, schemas: schemaReg, dlq: dlq, m: m, fatal: make(chan error, 1)}
	src, err := stream.NewAssigned(cluster, stream.AssignedConfig{
		Group: cfg.Group, Topic: cfg.Kafka.Topics.Clean,
		Prepare: s.prepare,
		Lag:     m.setLag,
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

// sinker is what the sink's goroutines share.
type sinker struct {
	cfg      Config
	log      *slog.Logger
	store    store // a server, or the shards of a cluster (cluster.go)
	idx      *dedup.Index
	schemas  *schemas.Registry
	dlq      *kafka.Writer
	m        *metrics
	resume   resumePoints // of the partitions prepared (prepare.go)
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
