// Package dedup is the sink's index of the event ids it stored, per clean-topic
// partition, for a horizon of time: what lets it drop a copy of an event that
// arrives at another offset, however many events came between the copies.
//
// The index is an embedded Pebble store in a directory of its own per sink
// instance. A key is a time bucket, a partition and the 16 bytes of an event id
// (IDOf); the horizon is cut into Slices buckets, a lookup probes the live ones
// through Pebble's bloom filters, and a bucket older than the horizon goes in
// one range deletion (Expire), never by scanning. An id is found for at least
// the horizon after it was indexed and at most one bucket longer.
//
// ClickHouse, not the index, is the source of truth. Each partition has a
// Checkpoint written atomically with its ids; after a crash, or when a
// partition arrives from another instance, the sink adds what ClickHouse stored
// above the checkpoint. So the index keeps no write-ahead log, and a new
// instance with an empty directory rebuilds a partition's horizon from
// ClickHouse. Memory is bounded by Options.Memory (memtables and block cache).
package dedup
