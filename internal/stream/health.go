package stream

import (
	"context"
	"fmt"
	"time"

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
