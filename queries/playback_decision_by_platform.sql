-- Question: on each platform, how often does media play as is (direct_play),
-- get remuxed (direct_stream) or need a transcode?
-- Reading the result: one row per platform, most plays first; plays counts
-- playback starts, and the three *_pct columns are the shares of those plays
-- in percent (they add up to 100, give or take rounding). A high
-- transcode_pct points at formats the platform's player cannot decode.
SELECT
    platform,
    count() AS plays,
    round(100 * countIf(decision = 'direct_play') / count(), 1)   AS direct_play_pct,
    round(100 * countIf(decision = 'direct_stream') / count(), 1) AS direct_stream_pct,
    round(100 * countIf(decision = 'transcode') / count(), 1)     AS transcode_pct
FROM veil.playback
WHERE playback_event = 'start'
GROUP BY platform
ORDER BY plays DESC, platform
