// Package sink loads clean events from the clean topic into ClickHouse.
//
// Instances share the clean topic's partitions through a Kafka consumer group,
// read through stream's batch source in its assigned-partitions mode
// (stream.NewAssigned): each partition a generation assigns this instance is
// prepared first (its resume points read from ClickHouse, its dedup index caught
// up) and then read from the offset the group committed, and one loader gathers
// the records of all of them into batches sized by records and by time. A batch
// becomes one columnar INSERT per table, however many partitions it spans, and
// each partition's offset is committed to Kafka only after ClickHouse
// acknowledged every insert of the batch and the dedup index took its ids. While
// ClickHouse fails, the insert is retried with backoff and nothing more is read,
// so memory stays bounded: one batch (--batch-records), the source's feed (4,096
// records), and per partition a reader queue (1,000 records) and one fetch (4 MiB).
// TestSinkMemoryStaysBoundedWhileClickHouseIsDown measures it. `sink run` sets
// GOGC=50 unless the environment sets GOGC, and a soft memory limit
// (MemoryLimit: 160 MiB at the defaults) unless it sets GOMEMLIMIT, for a lower
// peak at full rate.
//
// Delivery: effectively exactly once into the tables, for copies of an event up
// to --dedup-horizon (24h) apart. Two mechanisms:
//
// Records delivered again (a crash, a rebalance, a failed commit). Every row
// stores the Kafka partition and offset it came from. When a partition is
// assigned, the sink reads from ClickHouse the highest stored offset per (table,
// month) of that partition and skips records at or below it. Before retrying a
// failed INSERT it asks the same question, in case the server stored the block
// and failed only to answer. This works because each (table, month) share of an
// INSERT is written as one part that appears whole or not at all, and a batch
// holds, per partition, a run of consecutive offsets.
//
// Copies of an event at other offsets (a client's retry, minutes or days later;
// an enricher replay). The clean topic is keyed by event id, so every copy lands
// in the same partition. Each instance keeps an on-disk index of the event ids
// it stored per partition (package dedup, Pebble, in --dedup-dir), and drops a
// record whose id the index or the batch already holds. An id is remembered for
// the horizon after the sink indexed it, measured on the sink's clock, and at
// most a quarter horizon longer; a copy arriving later is stored again. The
// batch's ids enter the index after ClickHouse acknowledged the batch and before
// the Kafka commit. ClickHouse is the source of truth: once a batch's events
// are stored, the sink stores their ids in event_ids (by partition and offset,
// one INSERT per batch), and only then commits; a batch cut between the two is
// loaded again, and its stored records, skipped by their resume points, have
// their ids recorded again. When a partition is assigned the sink adds to its
// index what event_ids holds above the index's checkpoint for that partition.
// That covers what another instance stored while it held the partition, and whatever a crash took from
// the index (it keeps no write-ahead log); a new instance with an empty
// directory rebuilds the partition's horizon this way. Memory stays bounded:
// the index holds --dedup-memory (16 MiB) of memtables and cache, the rest is on
// disk, about 19 MiB per million events (scripts/bench measures it).
//
// The one window left is a ClickHouse server crash in the middle of writing a
// block that spans two months or its materialized views (the rollups); the
// README discusses it.
//
// On a cluster (--clickhouse-cluster) the guarantee is the same, per shard.
// Each partition's rows go to the local tables of one shard (chstore.Cluster.ShardOf,
// through chstore.Sharded), so a partition's resume points and ids live in one
// replica set. An INSERT goes to one replica; when it fails, the same block,
// byte for byte (inserted_at is sent, not left to the server's DEFAULT), goes
// to the next replica, and replicated block deduplication stores it once
// whichever replica had taken it. Resume points and the event_ids catch-up are
// read from every replica of the shard, taking the highest offset and every
// id, since an acknowledged block is at least on the replica that took it. When
// a replica does not answer, the others are read only once system.replicas
// shows they fetched every part of their replication log; until then the
// partition waits (its feeder retries) rather than resume from a point that
// may be too low. The window of one server stays: a replica killed between a
// block's table part and its views' parts leaves the rollups without that
// block, and the retry on the other replica is refused as a duplicate, views
// included. Caveats on 18.16: a block is remembered for deduplication
// among the last 100 blocks of its table per shard (replicated_deduplication_window);
// the days of event_ids are dropped on the replica that leads the table of
// each shard, by every sink (idempotent), and `sink retention` drops each
// shard's expired months the same way (chstore.Cluster.DropExpired).
//
// Records that cannot be decoded or do not fit their table go to the dead-letter
// topic with headers and never block the partition.
package sink
