// Package stream is the project's Kafka plumbing on segmentio/kafka-go: topic
// creation, a writer configured for durability, dead-letter records with headers,
// and the consume loop the enricher runs (fetch a batch, handle it, commit it).
//
// Delivery: at-least-once. Consume commits a batch's offsets only after its handler
// returned nil, which handlers do only after every record of the batch was written
// downstream and acknowledged. A handler failure is retried with backoff, never
// skipped, so a downstream outage stops consumption instead of losing data. After a
// crash or a rebalance the uncommitted tail is delivered again; later stages remove
// the duplicates (see package sink).
package stream
