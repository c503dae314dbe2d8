-- The id of every stored event, by where it came from in the clean topic: what
-- the sink rebuilds its deduplication index from when it takes a partition over
-- (see the sink package doc). A materialized view of each event table fills it,
-- so the INSERT that stores an event records its id. Sorted by partition and
-- offset, so "the ids of partition p above offset o" is a range read of the
-- primary key; partitioned by the day of the insert, so the sink drops whole
-- days once they are older than its deduplication horizon. inserted_hour holds
-- the hour of the insert and nothing finer, like every time in the database.
-- A new event table needs its own view into event_ids.

CREATE TABLE IF NOT EXISTS {{.DB}}.event_ids (
    kafka_partition UInt32,
    kafka_offset    UInt64,
    event_id        String,
    inserted_hour   DateTime
) ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(inserted_hour)
ORDER BY (kafka_partition, kafka_offset);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.playback_ids TO {{.DB}}.event_ids AS
SELECT kafka_partition, kafka_offset, event_id, toStartOfHour(now()) AS inserted_hour FROM {{.DB}}.playback;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.crash_ids TO {{.DB}}.event_ids AS
SELECT kafka_partition, kafka_offset, event_id, toStartOfHour(now()) AS inserted_hour FROM {{.DB}}.crash;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.marketing_ids TO {{.DB}}.event_ids AS
SELECT kafka_partition, kafka_offset, event_id, toStartOfHour(now()) AS inserted_hour FROM {{.DB}}.marketing;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.hosted_ids TO {{.DB}}.event_ids AS
SELECT kafka_partition, kafka_offset, event_id, toStartOfHour(now()) AS inserted_hour FROM {{.DB}}.hosted;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.integration_ids TO {{.DB}}.event_ids AS
SELECT kafka_partition, kafka_offset, event_id, toStartOfHour(now()) AS inserted_hour FROM {{.DB}}.integration;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.serverinfo_ids TO {{.DB}}.event_ids AS
SELECT kafka_partition, kafka_offset, event_id, toStartOfHour(now()) AS inserted_hour FROM {{.DB}}.serverinfo;

-- The ids stored before this migration, from the last week (the clean topic's
-- retention): without them a sink upgraded from the in-memory window would
-- remember nothing of what it stored before. Rows the views record while this
-- runs may be recorded twice, which costs the index nothing. Running it again
-- only records them again.
INSERT INTO {{.DB}}.event_ids (kafka_partition, kafka_offset, event_id, inserted_hour)
SELECT kafka_partition, kafka_offset, event_id, inserted_at FROM {{.DB}}.playback WHERE inserted_at >= toStartOfHour(now()) - INTERVAL 7 DAY;
INSERT INTO {{.DB}}.event_ids (kafka_partition, kafka_offset, event_id, inserted_hour)
SELECT kafka_partition, kafka_offset, event_id, inserted_at FROM {{.DB}}.crash WHERE inserted_at >= toStartOfHour(now()) - INTERVAL 7 DAY;
INSERT INTO {{.DB}}.event_ids (kafka_partition, kafka_offset, event_id, inserted_hour)
SELECT kafka_partition, kafka_offset, event_id, inserted_at FROM {{.DB}}.marketing WHERE inserted_at >= toStartOfHour(now()) - INTERVAL 7 DAY;
INSERT INTO {{.DB}}.event_ids (kafka_partition, kafka_offset, event_id, inserted_hour)
SELECT kafka_partition, kafka_offset, event_id, inserted_at FROM {{.DB}}.hosted WHERE inserted_at >= toStartOfHour(now()) - INTERVAL 7 DAY;
INSERT INTO {{.DB}}.event_ids (kafka_partition, kafka_offset, event_id, inserted_hour)
SELECT kafka_partition, kafka_offset, event_id, inserted_at FROM {{.DB}}.integration WHERE inserted_at >= toStartOfHour(now()) - INTERVAL 7 DAY;
INSERT INTO {{.DB}}.event_ids (kafka_partition, kafka_offset, event_id, inserted_hour)
SELECT kafka_partition, kafka_offset, event_id, inserted_at FROM {{.DB}}.serverinfo WHERE inserted_at >= toStartOfHour(now()) - INTERVAL 7 DAY
