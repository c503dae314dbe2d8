package stream_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
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

func TestReplicationValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    stream.Replication
		want string // "" for valid
	}{
		{"the broker's defaults", stream.Replication{Factor: -1}, ""},
		{"three copies, two in sync", stream.Replication{Factor: 3, MinInSync: 2}, ""},
		{"the broker's factor with a minimum in sync", stream.Replication{Factor: -1, MinInSync: 2}, ""},
		{"a factor below -1", stream.Replication{Factor: -2}, "--replication-factor"},
		{"a negative minimum in sync", stream.Replication{Factor: 3, MinInSync: -1}, "--min-insync-replicas"},
		{"more in sync than copies", stream.Replication{Factor: 2, MinInSync: 3}, "no write could succeed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

// The flags reach every topic a binary creates.
func TestReplicationFlagsApplyToEveryCreatedTopic(t *testing.T) {
	var k stream.Kafka
	testenv.Configure(t, k.Register, "--replication-factor", "3", "--min-insync-replicas", "2")
	specs := k.Replication.Apply(k.Topics.Specs(k.Partitions))
	if len(specs) != 4 {
		t.Fatalf("%d specs, want the raw, clean, consent and dead-letter topics", len(specs))
	}
	for _, s := range specs {
		if s.ReplicationFactor != 3 || s.MinInSyncReplicas != 2 {
			t.Errorf("%s: replication factor %d, min.insync.replicas %d; want 3 and 2", s.Name, s.ReplicationFactor, s.MinInSyncReplicas)
		}
	}
	var d stream.Kafka
	testenv.Configure(t, d.Register)
	if d.Replication != (stream.Replication{Factor: -1}) {
		t.Errorf("default replication %+v; want the broker's defaults (-1, 0)", d.Replication)
	}
}

// A topic is created with the replication it is asked for; min.insync.replicas
// is set again on a topic that has another, and a topic that exists with
// another replication factor is an error, not silently kept. On one broker the
// factor can only be 1.
func TestEnsureTopicsSetsMinInSyncReplicasAndRefusesAnotherFactor(t *testing.T) {
	brokers := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := testenv.Unique("t")
	tp := stream.Topics{Raw: id + ".raw", Clean: id + ".clean", Consent: id + ".consent", DeadLetter: id + ".deadletter"}
	testenv.DeleteAtEnd(t, brokers, tp)
	client := brokers.Client(10 * time.Second)
	isr := func(want string) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, "min.insync.replicas "+want, func() (bool, string) {
			resp, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: tp.Clean, ConfigNames: []string{"min.insync.replicas"}}}})
			if err != nil || len(resp.Resources) != 1 || len(resp.Resources[0].ConfigEntries) != 1 {
				return false, fmt.Sprint(resp, err)
			}
			got := resp.Resources[0].ConfigEntries[0].ConfigValue
			return got == want, got
		})
	}
	if err := stream.EnsureTopics(ctx, brokers, stream.Replication{Factor: 1, MinInSync: 1}.Apply(tp.Specs(1))); err != nil {
		t.Fatal(err)
	}
	isr("1")
	if err := stream.EnsureTopics(ctx, brokers, stream.Replication{Factor: 1, MinInSync: 2}.Apply(tp.Specs(1))); err != nil {
		t.Fatal(err)
	}
	isr("2")
	err := stream.EnsureTopics(ctx, brokers, stream.Replication{Factor: 3}.Apply(tp.Specs(1)))
	if err == nil || !strings.Contains(err.Error(), "replication factor 1, not 3") {
		t.Errorf("EnsureTopics of existing topics of factor 1 asking 3 = %v; want an error saying so", err)
	}
}
