package stream

import (
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
	return int(fnv32a(msg.Key) % uint32(b.Partitions))
}

// fnv32a is 32-bit FNV-1a, as hash/fnv computes it, without its allocation:
// it runs once per clean record. Changing the hash would move events between
// partitions, so it must stay FNV-1a.
func fnv32a(key []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range key {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}
