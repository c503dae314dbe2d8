-- Question: how does activity vary hour by hour over the last two days of data?
-- Reading the result: one row per hour (UTC; event times are truncated to the
-- hour by the privacy policy, so this is the finest grain there is) of the 48
-- hours up to the newest event, oldest first. events counts every playback
-- event, plays the starts, installations the distinct installations active in
-- that hour (uniq, approximate within about 1%). Hours without any event are
-- absent, not zero. The range filter on event_hour lets ClickHouse skip the
-- older parts of the table, which is sorted by day first.
SELECT
    event_hour AS hour,
    count() AS events,
    countIf(playback_event = 'start') AS plays,
    uniq(installation_id) AS installations
FROM veil.playback
WHERE event_hour > (SELECT max(event_hour) FROM veil.playback) - INTERVAL 48 HOUR
GROUP BY hour
ORDER BY hour
