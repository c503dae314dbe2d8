package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Ping returns a readiness check that asks the brokers for metadata (which
// also proves the credentials, when the cluster has a user).
func Ping(c Cluster) func(context.Context) error {
	client := c.Client(3 * time.Second)
	return func(ctx context.Context) error {
		if _, err := client.Metadata(ctx, &kafka.MetadataRequest{}); err != nil {
			return fmt.Errorf("kafka metadata: %w", err)
		}
		return nil
	}
}

// RegisterReaderStats exports the lag of a consumer-group reader as
// veil_<stage>_consumer_lag (records behind the partition end, as last fetched).
func RegisterReaderStats(reg prometheus.Registerer, stage string, r *kafka.Reader) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "veil_" + stage + "_consumer_lag",
		Help: "Records between the last fetched offset and the end of the partitions this instance reads.",
	}, func() float64 { return float64(r.Stats().Lag) }))
}
