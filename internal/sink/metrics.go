package sink

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veiltelemetry/veil/internal/dedup"
)

// metrics are the sink's own metrics (Run registers them).
type metrics struct {
	rows     *prometheus.CounterVec
	skipped  prometheus.Counter
	dups     prometheus.Counter
	caughtUp prometheus.Counter
	dead     *prometheus.CounterVec
	insert   prometheus.Histogram
	failures prometheus.Counter
	// failovers counts, per shard, the blocks a replica failed and another
	// replica of the shard took (a cluster only).
	failovers *prometheus.CounterVec
	lag       *prometheus.GaugeVec
	delay     prometheus.Histogram
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
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "veil_sink_replica_failovers_total",
			Help: "On a cluster: blocks a replica failed that another replica of the same shard then took, by shard."}, []string{"shard"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "veil_sink_consumer_lag", Help: "Records behind the end of the partition, per assigned partition."}, []string{"partition"}),
	}
	// Clean records carry no time finer than the hour, so the sink cannot tell
	// how old an event is; it measures its own share of the delay, and
	// scripts/bench measures the whole with marker events of its own.
	m.delay = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "veil_sink_batch_delay_seconds",
		Help:    "Per batch: from the moment its first record was taken until ClickHouse acknowledged every INSERT of the batch (the sink's share of an event's delay).",
		Buckets: []float64{.01, .025, .05, .075, .1, .15, .2, .3, .4, .5, .75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 30, 60, 120, 300}})
	for _, c := range []prometheus.Collector{m.rows, m.skipped, m.dups, m.caughtUp, m.dead, m.insert, m.failures, m.failovers, m.lag, m.delay} {
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

// setLag records a partition's lag (stream.AssignedConfig.Lag).
func (m *metrics) setLag(part int, n int64) {
	m.lag.WithLabelValues(strconv.Itoa(part)).Set(float64(n))
}
