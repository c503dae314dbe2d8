-- Question: how many plays are there per day by media type (video, music,
-- photo) and resolution class (SD, 720p, 1080p, 4K, 8K; none for music;
-- megapixel classes for photos)?
-- Reading the result: one row per day, media type and resolution, most plays
-- first within a day. plays counts playback starts, events every playback
-- event. From the playback_daily rollup, a SummingMergeTree: rows of one key
-- are only folded together when parts merge, so always aggregate with sum().
SELECT
    day,
    media_type,
    resolution,
    sum(plays)  AS plays,
    sum(events) AS events
FROM veil.playback_daily
GROUP BY day, media_type, resolution
ORDER BY day, plays DESC, media_type, resolution
