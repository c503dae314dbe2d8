package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// On the three brokers of scripts/cluster, topics created with replication
// factor 3 and min.insync.replicas 2 have three copies of every partition, all
// in sync, and take writes with acks=all; so do the pipeline's topics that
// scripts/cluster created.
func TestOnClusterTopicsAreReplicated(t *testing.T) {
	brokers := testenv.KafkaCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if len(brokers.Brokers) != 3 {
		t.Fatalf("VEIL_CLUSTER_BROKERS names %d brokers; scripts/cluster runs 3", len(brokers.Brokers))
	}
	id := testenv.Unique("t")
	tp := stream.Topics{Raw: id + ".raw", Clean: id + ".clean", Consent: id + ".consent", DeadLetter: id + ".deadletter"}
	testenv.DeleteAtEnd(t, brokers, tp)
	if err := stream.EnsureTopics(ctx, brokers, stream.Replication{Factor: 3, MinInSync: 2}.Apply(tp.Specs(4))); err != nil {
		t.Fatal(err)
	}
	client := brokers.Client(10 * time.Second)
	check := func(topics ...string) {
		t.Helper()
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err != nil {
			t.Fatal(err)
		}
		for _, topic := range md.Topics {
			if topic.Error != nil || len(topic.Partitions) == 0 {
				t.Errorf("%s: %v, %d partitions", topic.Name, topic.Error, len(topic.Partitions))
			}
			for _, p := range topic.Partitions {
				if len(p.Replicas) != 3 || len(p.Isr) != 3 {
					t.Errorf("%s/%d: %d replicas, %d in sync; want 3 and 3", topic.Name, p.ID, len(p.Replicas), len(p.Isr))
				}
			}
		}
		req := &kafka.DescribeConfigsRequest{}
		for _, topic := range topics {
			req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"min.insync.replicas"}})
		}
		resp, err := client.DescribeConfigs(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Resources {
			if len(r.ConfigEntries) != 1 || r.ConfigEntries[0].ConfigValue != "2" {
				t.Errorf("%s: min.insync.replicas %v, want 2", r.ResourceName, r.ConfigEntries)
			}
		}
	}
	check(tp.Raw, tp.Clean, tp.Consent, tp.DeadLetter)
	d := stream.DefaultTopics()
	check(d.Raw, d.Clean, d.Consent, d.DeadLetter)

	w, err := stream.NewWriter(stream.WriterConfig{Cluster: brokers, Topic: tp.Clean})
	if err != nil {
		t.Fatal(err)
	}
	if w.RequiredAcks != kafka.RequireAll {
		t.Errorf("the writer's acks are %v, want all", w.RequiredAcks)
	}
	var msgs []kafka.Message
	for i := range 100 {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint(i)), Value: []byte("v")})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(testenv.ReadAll(t, brokers, tp.Clean)); got != 100 {
		t.Errorf("read %d of the 100 records written with acks=all", got)
	}
}
