-- Question: how much of an item do people play before they stop, by media
-- type?
-- Reading the result: for stop events only, one row per media type and
-- played_bucket (the share of the item played when playback stopped, in coarse
-- steps: 0%, <10%, 10-25%, 25-50%, 50-75%, 75-90%, >=90%; n/a when the item has
-- no running time, as photos), in bucket order. stops counts the stop events
-- and pct their share among the media type's stops (adding up to 100 per media
-- type, give or take rounding).
SELECT
    media_type,
    played_bucket,
    stops,
    round(100 * stops / total, 1) AS pct
FROM
(
    SELECT media_type, played_bucket, count() AS stops
    FROM veil.playback
    WHERE playback_event = 'stop'
    GROUP BY media_type, played_bucket
) AS by_bucket
ANY LEFT JOIN
(
    SELECT media_type, count() AS total
    FROM veil.playback
    WHERE playback_event = 'stop'
    GROUP BY media_type
) AS by_media_type USING media_type
ORDER BY media_type, indexOf(['0%', '<10%', '10-25%', '25-50%', '50-75%', '75-90%', '>=90%', 'n/a'], played_bucket), played_bucket
