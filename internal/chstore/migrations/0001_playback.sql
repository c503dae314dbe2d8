-- Clean playback events, one row per event. Sorted for the questions analysts ask
-- most (plays per day by media type, resolution, device), partitioned by month so
-- retention drops whole partitions. kafka_partition/kafka_offset record where the
-- row came from: the sink resumes from them after a crash (see sink package doc).
CREATE TABLE IF NOT EXISTS {{.DB}}.playback (
    event_id        String,
    event_hour      DateTime,
    installation_id String,
    account_id      String,
    country         {{.LC}},
    region          {{.LC}},
    device_type     {{.LC}},
    platform        {{.LC}},
    player          {{.LC}},
    app_version     {{.LC}},
    media_source    {{.LC}},
    media_type      {{.LC}},
    container       {{.LC}},
    video_codec     {{.LC}},
    audio_codec     {{.LC}},
    duration_bucket {{.LC}},
    bitrate_bucket  {{.LC}},
    size_bucket     {{.LC}},
    resolution      {{.LC}},
    catalog_id      String,
    playback_event  {{.LC}},
    played_bucket   {{.LC}},
    decision        {{.LC}},
    kafka_partition UInt32,
    kafka_offset    UInt64,
    inserted_at     DateTime DEFAULT now()
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_hour)
ORDER BY (toDate(event_hour), media_type, resolution, device_type, event_id)
