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
	// NoLongerThan names a topic whose retention this one's must not exceed
	// (the dead-letter topic's: the raw topic's). EnsureTopics lowers the
	// retention of an existing topic that keeps records longer.
	NoLongerThan string
	// ReplicationFactor is the number of copies of each partition: 0 or -1
	// take the broker's default.replication.factor. A topic that exists with
	// another factor is an error: EnsureTopics cannot change it.
	ReplicationFactor int
	// MinInSyncReplicas is the topic's min.insync.replicas, how many copies
	// must have a record before a write with acks=all succeeds: 0 takes the
	// broker's default. EnsureTopics sets it on a topic that exists with
	// another value.
	MinInSyncReplicas int
}

// Replication is how the topics a binary creates are replicated.
type Replication struct {
	Factor    int // copies of each partition; -1 (or 0): the broker's default.replication.factor
	MinInSync int // min.insync.replicas; 0: the broker's default
}

// Validate names the first bad field, as the flags call them.
func (r Replication) Validate() error {
	switch {
	case r.Factor < -1:
		return fmt.Errorf("--replication-factor: -1 (the broker's default) or at least 1, got %d", r.Factor)
	case r.MinInSync < 0:
		return fmt.Errorf("--min-insync-replicas: 0 (the broker's default) or at least 1, got %d", r.MinInSync)
	case r.Factor > 0 && r.MinInSync > r.Factor:
		return fmt.Errorf("--min-insync-replicas %d exceeds --replication-factor %d: no write could succeed", r.MinInSync, r.Factor)
	}
	return nil
}

// Apply returns the specs with the replication set on each.
func (r Replication) Apply(specs []Topic) []Topic {
	out := make([]Topic, len(specs))
	for i, t := range specs {
		t.ReplicationFactor, t.MinInSyncReplicas = r.Factor, r.MinInSync
		out[i] = t
	}
	return out
}

// Topics names the pipeline's topics.
type Topics struct {
	Raw        string // default telemetry.raw.v1
	Clean      string // default telemetry.clean.v1
	Consent    string // default telemetry.consent.v1
	DeadLetter string // default telemetry.deadletter.v1
}

// DefaultTopics are the topic names the README's Topics section lists.
func DefaultTopics() Topics {
	return Topics{
		Raw:        "telemetry.raw.v1",
		Clean:      "telemetry.clean.v1",
		Consent:    "telemetry.consent.v1",
		DeadLetter: "telemetry.deadletter.v1",
	}
}

// RawRetention is how long the raw topic keeps records when it is created: raw
// events may hold identifiers, so they are kept only briefly.
const RawRetention = 24 * time.Hour

// Specs returns creation specs with the default sizes. Dead letters may hold
// what raw events hold, so they are kept no longer than the raw topic keeps
// them: RawRetention when created, and never longer than the raw topic's
// retention (NoLongerThan).
func (t Topics) Specs(partitions int) []Topic {
	if partitions <= 0 {
		partitions = 8
	}
	return []Topic{
		{Name: t.Raw, Partitions: partitions, Retention: RawRetention},
		{Name: t.Clean, Partitions: partitions, Retention: 7 * 24 * time.Hour},
		{Name: t.Consent, Partitions: 4, Compacted: true, Retention: -1},
		{Name: t.DeadLetter, Partitions: 4, Retention: RawRetention, NoLongerThan: t.Raw},
	}
}

// EnsureTopics creates the topics that do not exist yet; existing ones are left as
// they are, except that the retention of a topic with NoLongerThan is lowered to
// that topic's when it is longer, and min.insync.replicas is set where the spec
// names one the topic lacks. A topic that exists with another replication
// factor than its spec names is an error (moving partitions is an operator's
// job: kafka-reassign-partitions). It returns an error naming the first topic
// the broker refused.
func EnsureTopics(ctx context.Context, c Cluster, topics []Topic) error {
	client := c.Client(30 * time.Second)
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		parts := t.Partitions
		if parts <= 0 {
			parts = 8
		}
		rf := t.ReplicationFactor
		if rf <= 0 {
			rf = -1 // the broker's default.replication.factor
		}
		tc := kafka.TopicConfig{Topic: t.Name, NumPartitions: parts, ReplicationFactor: rf}
		if t.MinInSyncReplicas > 0 {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "min.insync.replicas", ConfigValue: strconv.Itoa(t.MinInSyncReplicas)})
		}
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
	if err := waitForLeaders(ctx, client, topics); err != nil {
		return err
	}
	if err := checkReplication(ctx, client, topics); err != nil {
		return err
	}
	for _, t := range topics {
		if t.NoLongerThan != "" {
			if err := capRetention(ctx, client, t.Name, t.NoLongerThan); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkReplication fails when an existing topic has another replication
// factor than its spec names, and sets min.insync.replicas where the spec names
// one the topic does not have.
func checkReplication(ctx context.Context, client *kafka.Client, topics []Topic) error {
	var names []string
	for _, t := range topics {
		if t.ReplicationFactor > 0 || t.MinInSyncReplicas > 0 {
			names = append(names, t.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("stream: metadata of %v: %w", names, err)
	}
	factor := map[string]int{}
	for _, t := range md.Topics {
		if len(t.Partitions) > 0 {
			factor[t.Name] = len(t.Partitions[0].Replicas)
		}
	}
	isr, err := topicConfig(ctx, client, "min.insync.replicas", names...)
	if err != nil {
		return err
	}
	var alter []kafka.IncrementalAlterConfigsRequestResource
	for _, t := range topics {
		if t.ReplicationFactor > 0 && factor[t.Name] != t.ReplicationFactor {
			return fmt.Errorf("stream: topic %s has replication factor %d, not %d: it existed before; reassign its partitions (kafka-reassign-partitions) or delete it",
				t.Name, factor[t.Name], t.ReplicationFactor)
		}
		if want := strconv.Itoa(t.MinInSyncReplicas); t.MinInSyncReplicas > 0 && isr[t.Name] != want {
			alter = append(alter, kafka.IncrementalAlterConfigsRequestResource{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: t.Name,
				Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "min.insync.replicas", Value: want, ConfigOperation: kafka.ConfigOperationSet}},
			})
		}
	}
	if len(alter) == 0 {
		return nil
	}
	resp, err := client.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: alter})
	if err == nil {
		for _, r := range resp.Resources {
			err = errors.Join(err, r.Error)
		}
	}
	if err != nil {
		return fmt.Errorf("stream: set min.insync.replicas of %d topics: %w", len(alter), err)
	}
	return nil
}

// topicConfig returns the value in force of one config of each topic.
func topicConfig(ctx context.Context, client *kafka.Client, name string, topics ...string) (map[string]string, error) {
	req := &kafka.DescribeConfigsRequest{}
	for _, t := range topics {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: t, ConfigNames: []string{name},
		})
	}
	resp, err := client.DescribeConfigs(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("stream: describe %s of %v: %w", name, topics, err)
	}
	out := map[string]string{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("stream: describe topic %s: %w", r.ResourceName, r.Error)
		}
		for _, c := range r.ConfigEntries {
			if c.ConfigName == name {
				out[r.ResourceName] = c.ConfigValue
			}
		}
	}
	return out, nil
}

// capRetention lowers the retention of topic to that of limit when it is longer
// (-1, forever, being the longest).
func capRetention(ctx context.Context, client *kafka.Client, topic, limit string) error {
	ms, err := Retention(ctx, client, topic, limit)
	if err != nil {
		return err
	}
	want, lower := Lowered(ms[topic], ms[limit])
	if !lower {
		return nil
	}
	resp, err := client.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic,
			ResourceName: topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{{
				Name: "retention.ms", Value: strconv.FormatInt(want, 10), ConfigOperation: kafka.ConfigOperationSet,
			}},
		}},
	})
	if err == nil {
		for _, r := range resp.Resources {
			err = errors.Join(err, r.Error)
		}
	}
	if err != nil {
		return fmt.Errorf("stream: lower the retention of %s to that of %s (%d ms): %w", topic, limit, want, err)
	}
	return nil
}

// Lowered returns the retention.ms a topic must have for it to keep records no
// longer than a topic whose retention is limit, and whether that is a change
// from have. -1, forever, is the longest; a retention is never raised.
func Lowered(have, limit int64) (int64, bool) {
	if limit < 0 || (have >= 0 && have <= limit) {
		return have, false
	}
	return limit, true
}

// Retention returns the retention.ms in force for each topic (-1: forever).
func Retention(ctx context.Context, client *kafka.Client, topics ...string) (map[string]int64, error) {
	req := &kafka.DescribeConfigsRequest{}
	for _, t := range topics {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: t, ConfigNames: []string{"retention.ms"},
		})
	}
	resp, err := client.DescribeConfigs(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("stream: describe topics %v: %w", topics, err)
	}
	out := map[string]int64{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("stream: describe topic %s: %w", r.ResourceName, r.Error)
		}
		for _, c := range r.ConfigEntries {
			if c.ConfigName != "retention.ms" {
				continue
			}
			ms, err := strconv.ParseInt(c.ConfigValue, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("stream: retention.ms of %s is %q: %w", r.ResourceName, c.ConfigValue, err)
			}
			out[r.ResourceName] = ms
		}
	}
	for _, t := range topics {
		if _, ok := out[t]; !ok {
			return nil, fmt.Errorf("stream: the broker did not say the retention of %s", t)
		}
	}
	return out, nil
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
