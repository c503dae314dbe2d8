package enricher

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/veiltelemetry/veil/internal/consent"
	"github.com/veiltelemetry/veil/internal/geo"
	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/privacy"
	"github.com/veiltelemetry/veil/internal/pseudonym"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

type metrics struct {
	records  *prometheus.CounterVec
	batches  prometheus.Histogram
	writeDur prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_enricher_records_total",
			Help: "Raw records processed, by outcome (clean, deadletter, dropped) and reason (dead-letter reason, or why dropped: opted-out:<category>, user_enabled-not-true).",
		}, []string{"outcome", "reason"}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "veil_enricher_batch_records",
			Help:    "Records per processed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		writeDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "veil_enricher_write_seconds",
			Help:    "Time to write a batch to Kafka and have it acknowledged.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	reg.MustRegister(m.records, m.batches, m.writeDur)
	return m
}

// NewProcessor loads the embedded schemas and compiles the policy with the key
// store and geo database of cfg. It fails closed: a schema field without a valid
// privacy annotation is an error here, before any record is read.
func NewProcessor(cfg Config) (*Processor, error) {
	reg, err := schemas.Load()
	if err != nil {
		return nil, err
	}
	keys, err := pseudonym.Open(pseudonym.Config{Dir: cfg.KeyDir, Period: cfg.KeyPeriod, Retention: cfg.KeyRetention})
	if err != nil {
		return nil, err
	}
	loc := geo.Locator{}
	if cfg.GeoIP != "" {
		db, err := geo.OpenMMDB(cfg.GeoIP)
		if err != nil {
			return nil, err
		}
		loc.IPs = db
	}
	pol, err := privacy.New(reg, privacy.Deps{Pseudonyms: keys, Geo: loc})
	if err != nil {
		return nil, err
	}
	return &Processor{Schemas: reg, Policy: pol, Topics: cfg.Kafka.Topics, Now: time.Now}, nil
}

// Run consumes the raw topic until ctx is done, then finishes the batch in hand and
// returns. It returns an error when the policy does not compile, Kafka cannot be
// reached at start, or the consume loop fails.
func Run(ctx context.Context, cfg Config, log *slog.Logger, reg *prometheus.Registry) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	proc, err := NewProcessor(cfg)
	if err != nil {
		return err
	}
	if err := cfg.Kafka.Ensure(ctx); err != nil {
		return err
	}
	cluster, err := cfg.Kafka.Cluster()
	if err != nil {
		return err
	}
	w, err := cfg.Kafka.Writer("")
	if err != nil {
		return err
	}
	defer w.Close()
	parts, err := stream.PartitionCount(ctx, cluster, cfg.Kafka.Topics.Clean)
	if err != nil {
		return fmt.Errorf("enricher: clean topic (an administrator creates it: veilctl kafka setup --create-topics): %w", err)
	}
	w.Balancer = &stream.EventIDBalancer{Topic: cfg.Kafka.Topics.Clean, Partitions: parts}
	r := kafka.NewReader(stream.ReaderConfig(cluster, cfg.Group, cfg.Kafka.Topics.Raw))
	defer r.Close()
	m := newMetrics(reg)
	stream.RegisterReaderStats(reg, "enricher", r)

	optOuts := consent.NewStore()
	proc.Consent = optOuts
	loaded := make(chan struct{})

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return consent.Follow(ctx, cluster, cfg.Kafka.Topics.Consent, optOuts, log, loaded)
	})
	g.Go(func() error {
		return obs.Serve(ctx, cfg.MetricsAddr, obs.Handler(reg, map[string]obs.Check{
			"kafka": stream.Ping(cluster),
		}), log)
	})
	g.Go(func() error {
		// Every opt-out already given applies before the first event is enriched.
		select {
		case <-loaded:
		case <-ctx.Done():
			return nil
		}
		log.Info("enricher consuming", "topic", cfg.Kafka.Topics.Raw, "group", cfg.Group, "kafka", cluster.String(),
			"installations_opted_out", optOuts.Len())
		out := make([]kafka.Message, 0, cfg.Batch.MaxRecords)
		clean := m.records.WithLabelValues("clean", "") // looked up once: most records take it
		return stream.Consume(ctx, r, cfg.Batch, log, func(ctx context.Context, batch []kafka.Message) error {
			out = out[:0]
			for _, in := range batch {
				msg, outcome, reason := proc.Process(in)
				switch outcome {
				case Clean:
					clean.Inc()
				case DeadLetter:
					m.records.WithLabelValues("deadletter", reason).Inc()
				case Dropped:
					m.records.WithLabelValues("dropped", reason).Inc()
					continue
				}
				out = append(out, msg)
			}
			start := time.Now()
			if err := w.WriteMessages(ctx, out...); err != nil {
				return fmt.Errorf("enricher: write %d records: %w", len(out), err)
			}
			m.writeDur.Observe(time.Since(start).Seconds())
			m.batches.Observe(float64(len(batch)))
			return nil
		})
	})
	return g.Wait()
}

// RotateKeys makes sure the current and next pseudonym epochs have keys and
// destroys the keys of epochs past the retention, reporting what it did. After a
// key is destroyed, pseudonyms made with it can no longer be recomputed by anyone.
func RotateKeys(cfg Config, out io.Writer) error {
	keys, err := pseudonym.Open(pseudonym.Config{Dir: cfg.KeyDir, Period: cfg.KeyPeriod, Retention: cfg.KeyRetention})
	if err != nil {
		return err
	}
	r, err := keys.Rotate()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "keys in %s: current epoch %d, created %v, destroyed %v\n", cfg.KeyDir, r.Current, r.Created, r.Destroyed)
	return nil
}
