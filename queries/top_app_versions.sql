-- Question: which app versions are in use, by how many installations?
-- Reading the result: the ten app versions seen on the most distinct
-- installations, most first. installations is approximate (uniq, within about
-- 1%) and counts pseudonyms, which rotate with their key: an installation
-- active across a key rotation counts once per key. events is every playback
-- event sent by that version, plays the starts among them.
SELECT
    app_version,
    uniq(installation_id) AS installations,
    countIf(playback_event = 'start') AS plays,
    count() AS events
FROM veil.playback
GROUP BY app_version
ORDER BY installations DESC, app_version
LIMIT 10
