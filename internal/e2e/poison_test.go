package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// Records in the clean topic that the sink cannot load go to the dead-letter
// topic with headers naming the stage, the reason and where they came from, and
// the events around them still land: no partition stalls.
func TestPoisonRecordsInTheCleanTopicAreDeadLetteredAndDoNotStallThePartition(t *testing.T) {
	h := newHarness(t, testenv.Kafka(t), testenv.ClickHouse(t))
	h.startEnricher()
	h.startSink()
	h.waitTables()
	w, err := stream.NewWriter(stream.WriterConfig{Cluster: h.brokers, Topic: h.topics.Clean})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	poison := []kafka.Message{
		{Key: []byte("a"), Value: []byte("not avro at all")},
		{Key: []byte("b"), Value: []byte{0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0}}, // unknown fingerprint
		{Key: []byte("c"), Value: nil},
	}
	if err := w.WriteMessages(context.Background(), poison...); err != nil {
		t.Fatal(err)
	}
	h.simulate(3000, 0, 3) // after the poison, in every partition
	h.waitRows(3000, 2*time.Minute)
	h.assertExactlyOnce(3000)

	var dl []kafka.Message
	testenv.Eventually(t, 30*time.Second, "3 dead letters", func() (bool, string) {
		dl = testenv.ReadAll(t, h.brokers, h.topics.DeadLetter)
		return len(dl) >= 3, strconv.Itoa(len(dl))
	})
	if len(dl) != 3 {
		t.Fatalf("%d dead letters, want exactly the 3 poison records", len(dl))
	}
	for _, m := range dl {
		if got := stream.Header(m, stream.HeaderStage); got != "sink" {
			t.Errorf("dead letter %q: stage %q, want sink", m.Key, got)
		}
		if stream.Header(m, stream.HeaderSourceTopic) != h.topics.Clean || stream.Header(m, stream.HeaderSourceOffset) == "" ||
			stream.Header(m, stream.HeaderSourcePartition) == "" || stream.Header(m, stream.HeaderError) == "" || stream.Header(m, stream.HeaderReason) == "" {
			t.Errorf("dead letter %q lacks source or error headers: %v", m.Key, m.Headers)
		}
	}
}
