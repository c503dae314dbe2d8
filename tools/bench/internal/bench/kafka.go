package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
)

// admin asks the broker about groups and offsets.
type admin struct {
	client *kafka.Client
}

func newAdmin(c stream.Cluster) *admin {
	return &admin{client: c.Client(10 * time.Second)}
}

// groupAssigned reports whether group is stable with every partition of topic
// assigned to a member: from then on it is consuming.
func (a *admin) groupAssigned(ctx context.Context, group, topic string, partitions int) (bool, error) {
	resp, err := a.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return false, nil // the coordinator may not be there yet; asked again
	}
	for _, g := range resp.Groups {
		if g.GroupID != group || g.Error != nil || g.GroupState != "Stable" {
			continue
		}
		assigned := map[int]bool{}
		for _, m := range g.Members {
			for _, t := range m.MemberAssignments.Topics {
				if t.Topic == topic {
					for _, p := range t.Partitions {
						assigned[p] = true
					}
				}
			}
		}
		return len(assigned) == partitions, nil
	}
	return false, nil
}

// lag returns how many records of topic lie beyond group's committed offsets (a
// partition without a commit counts from its first offset).
func (a *admin) lag(ctx context.Context, group, topic string, partitions int) (int64, error) {
	ids := make([]int, partitions)
	reqs := make([]kafka.OffsetRequest, partitions)
	for i := range partitions {
		ids[i] = i
		reqs[i] = kafka.OffsetRequest{Partition: i, Timestamp: kafka.LastOffset}
	}
	committed, err := a.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		return 0, fmt.Errorf("bench: committed offsets of %s: %w", group, err)
	}
	if committed.Error != nil {
		return 0, fmt.Errorf("bench: committed offsets of %s: %w", group, committed.Error)
	}
	ends, err := a.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, fmt.Errorf("bench: end offsets of %s: %w", topic, err)
	}
	firsts, err := a.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: firstOffsets(partitions)}})
	if err != nil {
		return 0, fmt.Errorf("bench: first offsets of %s: %w", topic, err)
	}
	end, first := map[int]int64{}, map[int]int64{}
	for _, p := range ends.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("bench: end offset of %s/%d: %w", topic, p.Partition, p.Error)
		}
		end[p.Partition] = p.LastOffset
	}
	for _, p := range firsts.Topics[topic] {
		first[p.Partition] = p.FirstOffset
	}
	var lag int64
	got := map[int]bool{}
	for _, p := range committed.Topics[topic] {
		got[p.Partition] = true
		off := p.CommittedOffset
		if off < 0 {
			off = first[p.Partition]
		}
		lag += max(0, end[p.Partition]-off)
	}
	for _, id := range ids {
		if !got[id] {
			lag += end[id] - first[id]
		}
	}
	return lag, nil
}

func firstOffsets(partitions int) []kafka.OffsetRequest {
	out := make([]kafka.OffsetRequest, partitions)
	for i := range out {
		out[i] = kafka.OffsetRequest{Partition: i, Timestamp: kafka.FirstOffset}
	}
	return out
}

// deleteTopics deletes topics; ones already gone are not an error.
func (a *admin) deleteTopics(ctx context.Context, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	resp, err := a.client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("bench: delete topics: %w", err)
	}
	for t, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			return fmt.Errorf("bench: delete topic %s: %w", t, err)
		}
	}
	return nil
}

// deleteGroups deletes consumer groups that have no members left.
func (a *admin) deleteGroups(ctx context.Context, groups []string) error {
	if len(groups) == 0 {
		return nil
	}
	resp, err := a.client.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: groups})
	if err != nil {
		return fmt.Errorf("bench: delete groups: %w", err)
	}
	for g, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.GroupIdNotFound) {
			return fmt.Errorf("bench: delete group %s: %w", g, err)
		}
	}
	return nil
}
