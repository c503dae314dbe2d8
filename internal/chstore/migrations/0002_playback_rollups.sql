-- Daily counts by the dimensions analysts slice plays by. events counts every
-- playback event (it must equal count() of the table for the same rows), plays
-- counts starts. SummingMergeTree adds the counters up when parts merge: query
-- with sum().
CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.playback_daily
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, media_type, resolution, device_type, container, country)
AS SELECT
    toDate(event_hour) AS day,
    media_type, resolution, device_type, container, country,
    count() AS events,
    countIf(playback_event = 'start') AS plays
FROM {{.DB}}.playback
GROUP BY day, media_type, resolution, device_type, container, country;

-- Distinct installations per day and platform, as mergeable uniq states: query
-- with uniqMerge(installations).
CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.installations_daily
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, platform)
AS SELECT
    toDate(event_hour) AS day,
    platform,
    uniqState(installation_id) AS installations
FROM {{.DB}}.playback
GROUP BY day, platform
