package stream_test

import (
	"context"
	"fmt"
	"strconv"
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

func TestLowered(t *testing.T) {
	const day = 86_400_000
	for _, tt := range []struct {
		name         string
		have, limit  int64
		want         int64
		wantLowering bool
	}{
		{"a longer retention is lowered to the limit", 3 * day, day, day, true},
		{"forever is lowered to the limit", -1, day, day, true},
		{"an equal retention is kept", day, day, day, false},
		{"a shorter retention is kept, never raised", day / 24, day, day / 24, false},
		{"no limit when the limit is forever", 3 * day, -1, 3 * day, false},
		{"forever under forever is kept", -1, -1, -1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, lower := stream.Lowered(tt.have, tt.limit)
			if got != tt.want || lower != tt.wantLowering {
				t.Errorf("Lowered(%d, %d) = %d, %v; want %d, %v", tt.have, tt.limit, got, lower, tt.want, tt.wantLowering)
			}
		})
	}
}

// Dead letters may hold what raw events hold: the dead-letter topic is created
// with the raw topic's retention, and an existing one that keeps records longer
// (72 h before, or a raw topic whose retention was lowered since) is lowered to
// the raw topic's (when to lower is TestLowered's).
func TestTheDeadLetterTopicKeepsRecordsNoLongerThanTheRawTopic(t *testing.T) {
	brokers := testenv.Kafka(t)
	tp := testenv.Topics(t, brokers, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := brokers.Client(10 * time.Second)
	// The broker applies a change of configuration shortly after it
	// acknowledged it: each check waits for the value it expects.
	wait := func(what, topic string, d time.Duration) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, what, func() (bool, string) {
			ms, err := stream.Retention(ctx, client, topic)
			return err == nil && ms[topic] == d.Milliseconds(), fmt.Sprint(ms, err)
		})
	}
	set := func(topic string, d time.Duration) {
		t.Helper()
		resp, err := client.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
			Resources: []kafka.IncrementalAlterConfigsRequestResource{{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
				Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "retention.ms", Value: strconv.FormatInt(d.Milliseconds(), 10)}},
			}},
		})
		if err == nil && resp.Resources[0].Error != nil {
			err = resp.Resources[0].Error
		}
		if err != nil {
			t.Fatal(err)
		}
		wait("the broker to apply the retention of "+topic, topic, d)
	}
	ensure := func() {
		t.Helper()
		if err := stream.EnsureTopics(ctx, brokers, tp.Specs(1)); err != nil {
			t.Fatal(err)
		}
	}
	wait("the raw topic created with the raw retention", tp.Raw, stream.RawRetention)
	wait("the dead-letter topic created with the raw retention", tp.DeadLetter, stream.RawRetention)
	set(tp.DeadLetter, 72*time.Hour) // a topic created by an earlier version
	ensure()
	wait("the 72h dead-letter topic lowered to the raw topic's retention", tp.DeadLetter, stream.RawRetention)
	set(tp.Raw, 12*time.Hour)
	ensure()
	wait("the dead-letter topic lowered to the raw topic's new 12h", tp.DeadLetter, 12*time.Hour)
}
