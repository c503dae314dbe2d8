-- Question: where in the world are plays happening, day by day?
-- Reading the result: one row per day and country (ISO 3166-1 alpha-2 code,
-- derived from the postal code or IP address, which are then dropped), most
-- plays first within a day. "unknown" gathers the events whose location could
-- not be resolved. From the playback_daily rollup: aggregate with sum().
SELECT
    day,
    if(country = '', 'unknown', country) AS country_code,
    sum(plays)  AS plays,
    sum(events) AS events
FROM veil.playback_daily
GROUP BY day, country_code
ORDER BY day, plays DESC, country_code
