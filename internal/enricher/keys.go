package enricher

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veiltelemetry/veil/internal/pseudonym"
)

// keyMetrics counts the key rotations and exports, read from the key directory
// at scrape time, how many key files it holds and how old the oldest is.
type keyMetrics struct {
	rotations *prometheus.CounterVec
	created   prometheus.Counter
	destroyed prometheus.Counter
	keys      *pseudonym.Store
	now       func() time.Time
	count     *prometheus.Desc
	oldest    *prometheus.Desc
}

func newKeyMetrics(reg prometheus.Registerer, keys *pseudonym.Store) (*keyMetrics, error) {
	m := &keyMetrics{
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_enricher_pseudonym_key_rotations_total",
			Help: "Rotations of the pseudonym keys, by result (ok; failed: some key could not be made, destroyed or made private, and the next rotation tries again).",
		}, []string{"result"}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "veil_enricher_pseudonym_keys_created_total",
			Help: "Pseudonym keys this instance made ahead of their epoch by rotation.",
		}),
		destroyed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "veil_enricher_pseudonym_keys_destroyed_total",
			Help: "Pseudonym key files this instance destroyed by rotation: past the retention, after the next epoch, or of another --key-period.",
		}),
		keys: keys,
		now:  time.Now,
		count: prometheus.NewDesc("veil_enricher_pseudonym_keys",
			"Pseudonym key files in --key-dir, read when scraped.", nil, nil),
		oldest: prometheus.NewDesc("veil_enricher_pseudonym_oldest_key_age_seconds",
			"Time since the oldest pseudonym key file in --key-dir was made, read when scraped. A key is made at most one --key-period before its epoch and destroyed once its epoch is past --key-retention, so while rotation works this stays below (key-retention + 1) × key-period; absent when there is no key.",
			nil, nil),
	}
	for _, c := range []prometheus.Collector{m.rotations, m.created, m.destroyed, m} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("enricher: register the key metrics: %w", err)
		}
	}
	m.rotations.WithLabelValues("ok")
	m.rotations.WithLabelValues("failed")
	return m, nil
}

// observe counts one rotation.
func (m *keyMetrics) observe(r pseudonym.Rotation, err error) {
	if err != nil {
		m.rotations.WithLabelValues("failed").Inc()
	} else {
		m.rotations.WithLabelValues("ok").Inc()
	}
	m.created.Add(float64(len(r.Created)))
	m.destroyed.Add(float64(len(r.Destroyed)))
}

func (m *keyMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.count
	ch <- m.oldest
}

// Collect reads the key directory. When it cannot, the two gauges are left out
// of the scrape rather than failing it; the failed rotations say why.
func (m *keyMetrics) Collect(ch chan<- prometheus.Metric) {
	keys, err := m.keys.Keys()
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(m.count, prometheus.GaugeValue, float64(len(keys)))
	if len(keys) == 0 {
		return
	}
	oldest := keys[0].Made
	for _, k := range keys[1:] {
		if k.Made.Before(oldest) {
			oldest = k.Made
		}
	}
	ch <- prometheus.MustNewConstMetric(m.oldest, prometheus.GaugeValue, m.now().Sub(oldest).Seconds())
}

// rotateEvery rotates the keys every interval until ctx ends, counting each
// rotation and logging what it did. A failed rotation is logged at error level;
// it never stops the enricher, and the next one tries again.
func (m *keyMetrics) rotateEvery(ctx context.Context, every time.Duration, log *slog.Logger) error {
	return m.keys.RotateEvery(ctx, every, func(r pseudonym.Rotation, err error) {
		m.observe(r, err)
		if err != nil {
			log.Error("pseudonym key rotation failed; the next one tries again", "dir", m.keys.Dir(),
				"created", r.Created, "destroyed", r.Destroyed, "err", err, "retry_in", every)
			return
		}
		logRotation(log, m.keys, r)
	})
}

// logRotation logs at info level a rotation that made or destroyed keys, at
// debug level one that had nothing to do.
func logRotation(log *slog.Logger, keys *pseudonym.Store, r pseudonym.Rotation) {
	level := slog.LevelDebug
	if len(r.Created)+len(r.Destroyed) > 0 {
		level = slog.LevelInfo
	}
	log.Log(context.Background(), level, "pseudonym keys rotated", "dir", keys.Dir(), "current_epoch", r.Current,
		"created", r.Created, "destroyed", r.Destroyed)
}
