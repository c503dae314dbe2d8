package stream

import (
	"hash/fnv"

	"github.com/segmentio/kafka-go"
)

// EventIDBalancer places records of one topic by a hash of their key modulo a
// partition count fixed at start, instead of the partitions the writer's metadata
// lists at the moment (kafka-go's balancers do that, so a copy written while the
// metadata was incomplete, or after partitions were added, could land in another
// partition). The sink relies on every copy of an event sharing a partition.
// Records of other topics are placed by murmur2, like the Java client.
type EventIDBalancer struct {
	Topic      string
	Partitions int
	other      kafka.Murmur2Balancer
}

// Balance implements kafka.Balancer.
func (b *EventIDBalancer) Balance(msg kafka.Message, partitions ...int) int {
	if msg.Topic != b.Topic || b.Partitions <= 0 {
		return b.other.Balance(msg, partitions...)
	}
	h := fnv.New32a()
	h.Write(msg.Key)
	return int(h.Sum32() % uint32(b.Partitions))
}
