-- Question: which container formats (for video the families mkv, mp4 and legacy;
-- for music and photos flac, mp3, jpeg, ...) are played, and how much, day by day?
-- Reading the result: one row per day and container, most played first within
-- a day; share_pct is the container's share of that day's plays, in percent
-- (the shares of one day add up to 100, give or take rounding). From the
-- playback_daily rollup: aggregate its counters with sum().
SELECT
    day,
    container,
    plays,
    round(100 * plays / day_plays, 1) AS share_pct
FROM
(
    SELECT day, container, sum(plays) AS plays
    FROM veil.playback_daily
    GROUP BY day, container
) AS by_container
ANY LEFT JOIN
(
    SELECT day, sum(plays) AS day_plays
    FROM veil.playback_daily
    GROUP BY day
) AS by_day USING day
ORDER BY day, plays DESC, container
