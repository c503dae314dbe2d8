-- One table per clean event kind besides playback. Each starts its sort key with
-- the day (time-range pruning), then the dimension analysts group that kind by,
-- and ends with event_id. kafka_partition/kafka_offset serve the sink's resume.

CREATE TABLE IF NOT EXISTS {{.DB}}.crash (
    event_id        String,
    event_hour      DateTime,
    installation_id String,
    country         {{.LC}},
    region          {{.LC}},
    device_type     {{.LC}},
    platform        {{.LC}},
    app_version     {{.LC}},
    component       {{.LC}},
    exception_type  {{.LC}},
    stack_hash      String,
    kafka_partition UInt32,
    kafka_offset    UInt64,
    inserted_at     DateTime DEFAULT now()
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_hour)
ORDER BY (toDate(event_hour), app_version, component, event_id);

CREATE TABLE IF NOT EXISTS {{.DB}}.marketing (
    event_id        String,
    event_hour      DateTime,
    installation_id String,
    account_id      String,
    country         {{.LC}},
    region          {{.LC}},
    campaign_id     {{.LC}},
    channel         {{.LC}},
    action          {{.LC}},
    app_version     {{.LC}},
    kafka_partition UInt32,
    kafka_offset    UInt64,
    inserted_at     DateTime DEFAULT now()
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_hour)
ORDER BY (toDate(event_hour), campaign_id, action, event_id);

CREATE TABLE IF NOT EXISTS {{.DB}}.hosted (
    event_id        String,
    event_hour      DateTime,
    installation_id String,
    account_id      String,
    country         {{.LC}},
    region          {{.LC}},
    device_type     {{.LC}},
    platform        {{.LC}},
    app_version     {{.LC}},
    content_type    {{.LC}},
    catalog_id      String,
    action          {{.LC}},
    ad_position     {{.LC}},
    kafka_partition UInt32,
    kafka_offset    UInt64,
    inserted_at     DateTime DEFAULT now()
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_hour)
ORDER BY (toDate(event_hour), content_type, catalog_id, event_id);

CREATE TABLE IF NOT EXISTS {{.DB}}.integration (
    event_id        String,
    event_hour      DateTime,
    installation_id String,
    country         {{.LC}},
    region          {{.LC}},
    integration     {{.LC}},
    action          {{.LC}},
    app_version     {{.LC}},
    kafka_partition UInt32,
    kafka_offset    UInt64,
    inserted_at     DateTime DEFAULT now()
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_hour)
ORDER BY (toDate(event_hour), integration, action, event_id);

CREATE TABLE IF NOT EXISTS {{.DB}}.serverinfo (
    event_id        String,
    event_hour      DateTime,
    installation_id String,
    country         {{.LC}},
    region          {{.LC}},
    platform        {{.LC}},
    app_version     {{.LC}},
    os_version      {{.LC}},
    update_channel  {{.LC}},
    cpu_arch        {{.LC}},
    transcoder_hw   {{.LC}},
    kafka_partition UInt32,
    kafka_offset    UInt64,
    inserted_at     DateTime DEFAULT now()
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_hour)
ORDER BY (toDate(event_hour), app_version, platform, event_id);

-- Crashes per day, app version, platform and component: the numerator of crash
-- rates (the denominator is installations_daily or serverinfo). Query with sum().
CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.crashes_daily
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, app_version, platform, component, exception_type)
AS SELECT
    toDate(event_hour) AS day,
    app_version, platform, component, exception_type,
    count() AS crashes
FROM {{.DB}}.crash
GROUP BY day, app_version, platform, component, exception_type
