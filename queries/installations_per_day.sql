-- Question: how many distinct installations are active each day, on each
-- platform?
-- Reading the result: one row per day and platform, most installations first
-- within a day. installations merges the uniq states of the
-- installations_daily rollup (an AggregatingMergeTree: always read it through
-- uniqMerge), approximate within about 1%. Installation ids are pseudonyms
-- whose key rotates each epoch, so an installation active across an epoch
-- boundary counts once per epoch. Days do not add up: an installation active
-- on two days counts on both.
SELECT
    day,
    platform,
    uniqMerge(installations) AS installations
FROM veil.installations_daily
GROUP BY day, platform
ORDER BY day, installations DESC, platform
