-- The sink writes event_ids itself from now on: each batch's ids in one
-- INSERT, after the batch's events and before its Kafka offsets are committed
-- (see the sink package doc). The views of 0005 wrote six small parts of
-- event_ids per batch, one per event table, and merging them cost ClickHouse
-- more than anything else the pipeline decides (README, Performance).
-- Stop every older sink before this runs: an older sink relies on the views,
-- and the ids of what it stores afterwards would be missing from event_ids.

DROP TABLE IF EXISTS {{.DB}}.playback_ids;
DROP TABLE IF EXISTS {{.DB}}.crash_ids;
DROP TABLE IF EXISTS {{.DB}}.marketing_ids;
DROP TABLE IF EXISTS {{.DB}}.hosted_ids;
DROP TABLE IF EXISTS {{.DB}}.integration_ids;
DROP TABLE IF EXISTS {{.DB}}.serverinfo_ids
