-- Question: which hosted content (trailers, Live TV channels, DVR programs,
-- ads) is played most, and by how many installations?
-- Reading the result: the ten most played catalog ids of each kind (the part
-- of catalog_id before the colon: trailer, livetv, dvr, ad), most plays first.
-- plays counts playback starts; installations is the approximate number of
-- distinct installations that sent any event for the item (uniq, within about
-- 1%; pseudonyms rotate with their key, so an installation active across a key
-- rotation counts once per key). Local media never carries a catalog id.
SELECT
    splitByChar(':', catalog_id)[1] AS kind,
    catalog_id,
    countIf(playback_event = 'start') AS plays,
    count() AS events,
    uniq(installation_id) AS installations
FROM veil.playback
WHERE media_source = 'hosted'
GROUP BY kind, catalog_id
ORDER BY kind, plays DESC, catalog_id
LIMIT 10 BY kind
