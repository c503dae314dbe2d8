package stream_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// Once EnsureTopics returns, every partition's leader serves it: the first
// offset request to each, with no retry, succeeds. Creating again is a no-op.
func TestEnsureTopicsReturnsOncePartitionsAreServed(t *testing.T) {
	brokers := testenv.Kafka(t)
	tp := testenv.Topics(t, brokers, 8) // EnsureTopics, deleted at the end
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := brokers.Client(10 * time.Second)
	for _, topic := range []string{tp.Raw, tp.Clean, tp.Consent, tp.DeadLetter} {
		n, err := stream.PartitionCount(ctx, brokers, topic)
		if err != nil {
			t.Fatal(err)
		}
		req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
		for p := range n {
			req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
		}
		resp, err := client.ListOffsets(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		for _, p := range resp.Topics[topic] {
			if p.Error != nil {
				t.Errorf("%s partition %d right after EnsureTopics: %v", topic, p.Partition, p.Error)
			}
		}
	}
	if err := stream.EnsureTopics(ctx, brokers, tp.Specs(8)); err != nil {
		t.Errorf("EnsureTopics on existing topics: %v", err)
	}
}
