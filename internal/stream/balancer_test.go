package stream_test

import (
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
)

func TestEventIDBalancerIgnoresTheWritersCurrentPartitionList(t *testing.T) {
	b := &stream.EventIDBalancer{Topic: "clean", Partitions: 8}
	used := map[int]bool{}
	for i := 0; i < 1000; i++ {
		m := kafka.Message{Topic: "clean", Key: []byte(fmt.Sprintf("event-%d", i))}
		full := b.Balance(m, 0, 1, 2, 3, 4, 5, 6, 7)
		partial := b.Balance(m, 0, 1) // metadata not complete yet
		if full != partial {
			t.Fatalf("event-%d: partition %d with full metadata, %d with partial", i, full, partial)
		}
		if full < 0 || full >= 8 {
			t.Fatalf("partition %d out of range", full)
		}
		used[full] = true
	}
	if len(used) != 8 {
		t.Errorf("1000 keys used %d of 8 partitions", len(used))
	}
	// Other topics follow the partitions the writer offers.
	if p := b.Balance(kafka.Message{Topic: "deadletter", Key: []byte("k")}, 3); p != 3 {
		t.Errorf("dead letter placed on %d, want the only offered partition 3", p)
	}
}
