// Package stream is the project's Kafka plumbing on segmentio/kafka-go: the
// cluster and its credentials, topic creation, writers configured for
// durability, record and dead-letter headers, the dead-letter replay, and the one
// way the stages read Kafka: a Source of acknowledged batches, in one of three
// modes (a consumer-group member, the partitions a group assigns, a follower of
// a compacted topic), and Consume, the loop over it (fetch a batch, handle it,
// acknowledge it).
//
// Delivery: at-least-once. Consume acknowledges (commits) a batch only after its
// handler returned nil, which handlers do only after every record of the batch
// was written downstream and acknowledged. A handler failure is retried with
// backoff, never skipped, so a downstream outage stops consumption instead of
// losing data. After a crash or a rebalance the unacknowledged tail is delivered
// again; later stages remove the duplicates (see package sink).
package stream
