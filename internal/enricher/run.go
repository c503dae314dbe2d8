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

	"github.com/veiltelemetry/veil/internal/catalog"
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
	catalog  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
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
	m.catalog = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "veil_enricher_catalog_reloads_total",
		Help: "Reloads of the service catalog file, by result (ok, failed: the previous catalog stays in use).",
	}, []string{"result"})
	for _, c := range []prometheus.Collector{m.records, m.batches, m.writeDur, m.catalog} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("enricher: register metrics: %w", err)
		}
	}
	return m, nil
}

// replacedCollector exports how many values the policy replaced because they lay
// outside their field's domain, per kind and field. It reads the policy's own
// counters at scrape time.
type replacedCollector struct {
	pol  *privacy.Policy
	desc *prometheus.Desc
}

func newReplacedCollector(pol *privacy.Policy) *replacedCollector {
	return &replacedCollector{pol: pol, desc: prometheus.NewDesc("veil_enricher_out_of_domain_total",
		"Values outside their field's declared domain, which the policy replaced (a kept string by \"other\", a catalog id the service catalog does not hold by nothing), by event kind and raw field.",
		[]string{"kind", "field"}, nil)}
}

func (c *replacedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *replacedCollector) Collect(ch chan<- prometheus.Metric) {
	for _, kp := range c.pol.Kinds() {
		kp.Replaced(func(field string, n uint64) {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), kp.Raw.Kind, field)
		})
	}
}

// NewProcessor loads the embedded schemas and compiles the policy with the key
// store, geo database and service catalog of cfg. It fails closed: a schema field
// without a valid privacy annotation, or a kept string without a domain, is an
// error here, before any record is read. The returned catalog follows its file
// once Follow runs.
func NewProcessor(cfg Config) (*Processor, *catalog.Live, error) {
	keys, err := openKeys(cfg)
	if err != nil {
		return nil, nil, err
	}
	return newProcessor(cfg, keys)
}

func openKeys(cfg Config) (*pseudonym.Store, error) {
	return pseudonym.Open(pseudonym.Config{Dir: cfg.KeyDir, Period: cfg.KeyPeriod, Retention: cfg.KeyRetention})
}

func newProcessor(cfg Config, keys *pseudonym.Store) (*Processor, *catalog.Live, error) {
	reg, err := schemas.Load()
	if err != nil {
		return nil, nil, err
	}
	loc := geo.Locator{}
	if cfg.GeoIP != "" {
		db, err := geo.OpenMMDB(cfg.GeoIP)
		if err != nil {
			return nil, nil, err
		}
		loc.IPs = db
	}
	cat, err := catalog.Open(cfg.Catalog)
	if err != nil {
		return nil, nil, fmt.Errorf("enricher: --service-catalog: %w", err)
	}
	pol, err := privacy.New(reg, privacy.Deps{Pseudonyms: keys, Geo: loc, Catalog: cat})
	if err != nil {
		return nil, nil, err
	}
	return &Processor{Schemas: reg, Policy: pol, Topics: cfg.Kafka.Topics, Now: time.Now, MaxAge: cfg.MaxAge}, cat, nil
}

// Run consumes the raw topic until ctx is done, then finishes the batch in hand and
// returns. It rotates the pseudonym keys at start and every --key-rotate-every.
// It returns an error when the policy does not compile, the first key rotation
// fails, Kafka cannot be reached at start, the consume loop fails, or the batch
// in hand could not be written within stream.DrainTimeout of ctx ending (it
// stays uncommitted and is enriched again by the next run); a later rotation
// that fails is logged and counted, and the next one tries again.
func Run(ctx context.Context, cfg Config, log *slog.Logger, reg obs.Registry) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	keys, err := openKeys(cfg)
	if err != nil {
		return err
	}
	// Keys that must not be used (of an earlier --key-period, past the
	// retention) are destroyed before the first record is enriched.
	rot, err := keys.Rotate()
	if err != nil {
		return fmt.Errorf("enricher: rotate pseudonym keys in %s: %w", cfg.KeyDir, err)
	}
	logRotation(log, keys, rot)
	proc, cat, err := newProcessor(cfg, keys)
	if err != nil {
		return err
	}
	if cfg.Catalog == "" {
		log.Warn("no --service-catalog: no catalog_id or campaign_id will be kept")
	}
	if err := cfg.Kafka.Ensure(ctx); err != nil {
		return err
	}
	cluster, err := cfg.Kafka.Cluster()
	if err != nil {
		return err
	}
	parts, err := stream.PartitionCount(ctx, cluster, cfg.Kafka.Topics.Clean)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("enricher: %w before consuming anything: %w", context.Cause(ctx), err)
		}
		return fmt.Errorf("enricher: clean topic (an administrator creates it: veilctl kafka setup --create-topics): %w", err)
	}
	wcfg, err := cfg.Kafka.WriterConfig("") // records name their topic: clean or dead-letter
	if err != nil {
		return err
	}
	wcfg.Balancer = &stream.EventIDBalancer{Topic: cfg.Kafka.Topics.Clean, Partitions: parts}
	w, err := stream.NewWriter(wcfg)
	if err != nil {
		return err
	}
	defer stream.Close(w, "writer")
	raw := stream.NewMember(cluster, cfg.Group, cfg.Kafka.Topics.Raw, cfg.Batch, log)
	defer raw.Close()
	m, err := newMetrics(reg)
	if err != nil {
		return err
	}
	km, err := newKeyMetrics(reg, keys)
	if err != nil {
		return err
	}
	km.observe(rot, nil)
	if err := stream.RegisterLag(reg, "enricher", raw); err != nil {
		return err
	}
	if err := reg.Register(newReplacedCollector(proc.Policy)); err != nil {
		return fmt.Errorf("enricher: register metrics: %w", err)
	}

	optOuts := consent.NewStore()
	proc.Consent = optOuts
	loaded := make(chan struct{})

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return cat.Follow(ctx, cfg.CatalogEvery, func(c *catalog.Catalog, err error) {
			if err != nil {
				m.catalog.WithLabelValues("failed").Inc()
				log.Warn("service catalog not reloaded; the previous one stays in use", "file", cfg.Catalog, "err", err)
				return
			}
			m.catalog.WithLabelValues("ok").Inc()
			log.Info("service catalog reloaded", "file", cfg.Catalog, "hosted", c.Len(catalog.Hosted), "campaigns", c.Len(catalog.Campaign))
		})
	})
	g.Go(func() error { return km.rotateEvery(ctx, cfg.KeyRotate, log) })
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
		return stream.Consume(ctx, raw, log, func(ctx context.Context, batch []kafka.Message) error {
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

// RotateKeys is `enricher keys rotate`: one rotation of the pseudonym keys, as
// `enricher run` does every --key-rotate-every (pseudonym.Store.Rotate), reporting
// what it did. After a key is destroyed, pseudonyms made with it can no longer be
// recomputed by anyone.
func RotateKeys(cfg Config, out io.Writer) error {
	keys, err := openKeys(cfg)
	if err != nil {
		return err
	}
	r, err := keys.Rotate()
	fmt.Fprintf(out, "keys in %s: current epoch %d, created %v, destroyed %v\n", cfg.KeyDir, r.Current, r.Created, r.Destroyed)
	return err
}
