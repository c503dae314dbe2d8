// Package sink loads clean events from the clean topic into ClickHouse.
//
// Instances share the clean topic's partitions through a Kafka consumer group. Each
// assigned partition has its own reader (a feeder), and one loader per instance
// gathers the records of all of them into batches sized by records and by time.
// A batch becomes one columnar INSERT per table, however many partitions it spans,
// and each partition's offset is committed to Kafka only after ClickHouse
// acknowledged every insert of the batch. While ClickHouse fails, the insert is
// retried with backoff and nothing more is read, so memory stays bounded: one
// batch (--batch-records), the feeders' channel (4,096 records), and per partition
// a reader queue (1,000 records) and one fetch (4 MiB).
// TestSinkMemoryStaysBoundedWhileClickHouseIsDown measures it. `sink run` sets
// GOGC=50 unless the environment sets GOGC, for a lower peak at full rate.
//
// Delivery: effectively exactly once into the tables. Every row stores the Kafka
// partition and offset it came from. When a partition is assigned, the sink reads
// from ClickHouse the highest stored offset per (table, month) of that partition
// and skips records at or below it, so records delivered again after a crash, a
// rebalance or a failed commit are not inserted twice. Before retrying a failed
// INSERT it asks the same question, in case the server stored the block and failed
// only to answer. This works because each (table, month) share of an INSERT is
// written as one part that appears whole or not at all, and a batch holds, per
// partition, a run of consecutive offsets. The one window left is a ClickHouse
// server crash in the middle of writing a block that spans two months or its
// materialized views; the README discusses it.
//
// Records that cannot be decoded or do not fit their table go to the dead-letter
// topic with headers and never block the partition.
package sink
