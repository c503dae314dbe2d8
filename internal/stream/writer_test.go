package stream_test

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
)

// A writer is configured whole by its WriterConfig: what the config leaves
// zero takes the safe defaults, what it sets is used, and nobody needs to
// change the writer after construction.
func TestNewWriterTakesEveryOptionFromItsConfig(t *testing.T) {
	w, err := stream.NewWriter(stream.WriterConfig{Cluster: stream.Cluster{Brokers: []string{"127.0.0.1:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.Balancer.(*kafka.Murmur2Balancer); !ok || w.BatchBytes != stream.DefaultBatchBytes || w.BatchSize != stream.DefaultBatchSize ||
		w.BatchTimeout != 5*time.Millisecond || w.RequiredAcks != kafka.RequireAll || w.Async {
		t.Errorf("defaults: balancer %T, batch bytes %d, size %d, timeout %s, acks %v, async %v", w.Balancer, w.BatchBytes, w.BatchSize, w.BatchTimeout, w.RequiredAcks, w.Async)
	}
	b := &stream.EventIDBalancer{Topic: "clean", Partitions: 8}
	w, err = stream.NewWriter(stream.WriterConfig{Cluster: stream.Cluster{Brokers: []string{"127.0.0.1:1"}},
		Balancer: b, BatchBytes: 4096, BatchSize: 1, BatchTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if w.Balancer != b || w.BatchBytes != 4096 || w.BatchSize != 1 || w.BatchTimeout != time.Millisecond {
		t.Errorf("set: balancer %T, batch bytes %d, size %d, timeout %s", w.Balancer, w.BatchBytes, w.BatchSize, w.BatchTimeout)
	}
}
