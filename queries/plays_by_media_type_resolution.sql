-- Plays (start events) and all playback events per day by media type and
-- resolution, from the daily rollup. SummingMergeTree folds rows together when
-- parts merge, so always aggregate with sum().
SELECT
    day,
    media_type,
    resolution,
    sum(plays)  AS plays,
    sum(events) AS events
FROM veil.playback_daily
GROUP BY day, media_type, resolution
ORDER BY day, plays DESC, media_type, resolution
