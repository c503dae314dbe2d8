-- Question: how many plays does each kind of device (tv, streaming_stick,
-- mobile, ...) account for, day by day?
-- Reading the result: one row per day and device type, busiest device first
-- within a day. plays counts playback starts (one per play), events every
-- playback event (start, progress, stop). From the playback_daily rollup, a
-- SummingMergeTree: rows of one key are only folded together when parts merge,
-- so always aggregate with sum(), never read the counters raw.
SELECT
    day,
    device_type,
    sum(plays)  AS plays,
    sum(events) AS events
FROM veil.playback_daily
GROUP BY day, device_type
ORDER BY day, plays DESC, device_type
