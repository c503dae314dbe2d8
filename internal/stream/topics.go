package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Topic describes a topic the pipeline uses and how to create it.
type Topic struct {
	Name       string
	Partitions int           // default 8
	Retention  time.Duration // 0: broker default; negative: forever
	Compacted  bool          // cleanup.policy=compact (the consent topic)
}

// Topics names the pipeline's topics.
type Topics struct {
	Raw        string // default telemetry.raw.v1
	Clean      string // default telemetry.clean.v1
	Consent    string // default telemetry.consent.v1
	DeadLetter string // default telemetry.deadletter.v1
}

// DefaultTopics are the topic names of DESIGN.md.
func DefaultTopics() Topics {
	return Topics{
		Raw:        "telemetry.raw.v1",
		Clean:      "telemetry.clean.v1",
		Consent:    "telemetry.consent.v1",
		DeadLetter: "telemetry.deadletter.v1",
	}
}

// Specs returns creation specs with the default sizes: raw events and dead letters
// may hold identifiers, so they are kept only briefly.
func (t Topics) Specs(partitions int) []Topic {
	if partitions <= 0 {
		partitions = 8
	}
	return []Topic{
		{Name: t.Raw, Partitions: partitions, Retention: 24 * time.Hour},
		{Name: t.Clean, Partitions: partitions, Retention: 7 * 24 * time.Hour},
		{Name: t.Consent, Partitions: 4, Compacted: true, Retention: -1},
		{Name: t.DeadLetter, Partitions: 4, Retention: 72 * time.Hour},
	}
}

// EnsureTopics creates the topics that do not exist yet; existing ones are left as
// they are. It returns an error naming the first topic the broker refused.
func EnsureTopics(ctx context.Context, c Cluster, topics []Topic) error {
	client := c.Client(30 * time.Second)
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		parts := t.Partitions
		if parts <= 0 {
			parts = 8
		}
		tc := kafka.TopicConfig{Topic: t.Name, NumPartitions: parts, ReplicationFactor: -1}
		switch {
		case t.Retention > 0:
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(t.Retention.Milliseconds(), 10)})
		case t.Retention < 0:
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: "-1"})
		}
		if t.Compacted {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"})
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("stream: create topics on %s: %w", c, err)
	}
	for _, t := range topics {
		if err := resp.Errors[t.Name]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("stream: create topic %s: %w", t.Name, err)
		}
	}
	return waitForLeaders(ctx, client, topics)
}

// waitForLeaders returns once every partition of the topics has a leader that
// serves it, so that the first read or write after creation does not fail: the
// metadata can name a leader before that broker has opened the partition
// ("Not Leader For Partition"), so each partition's offsets are also listed.
func waitForLeaders(ctx context.Context, client *kafka.Client, topics []Topic) error {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		ready := err == nil
		if ready {
			for _, t := range md.Topics {
				if t.Error != nil || len(t.Partitions) == 0 {
					ready = false
				}
				for _, p := range t.Partitions {
					if p.Leader.ID < 0 || p.Error != nil {
						ready = false
					}
				}
			}
		}
		if ready {
			ready, err = partitionsServed(ctx, client, md.Topics)
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stream: topics %v have no leader after 30s (last error: %v)", names, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// partitionsServed reports whether every partition's leader answers a request
// for its first offset.
func partitionsServed(ctx context.Context, client *kafka.Client, topics []kafka.Topic) (bool, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range topics {
		for _, p := range t.Partitions {
			req.Topics[t.Name] = append(req.Topics[t.Name], kafka.FirstOffsetOf(p.ID))
		}
	}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		return false, err
	}
	for _, t := range topics {
		got := resp.Topics[t.Name]
		if len(got) != len(t.Partitions) {
			return false, fmt.Errorf("offsets of %d of %d partitions of %s", len(got), len(t.Partitions), t.Name)
		}
		for _, p := range got {
			if p.Error != nil {
				return false, fmt.Errorf("partition %d of %s: %w", p.Partition, t.Name, p.Error)
			}
		}
	}
	return true, nil
}

// PartitionCount returns the number of partitions of topic.
func PartitionCount(ctx context.Context, c Cluster, topic string) (int, error) {
	client := c.Client(10 * time.Second)
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("stream: metadata of %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Error != nil {
			return 0, fmt.Errorf("stream: metadata of %s: %w", topic, t.Error)
		}
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("stream: topic %s not found", topic)
}
