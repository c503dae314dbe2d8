-- Distinct installations per day, overall and by platform, from the mergeable
-- uniq states of the installations_daily rollup (approximate, within ~1%).
-- Installation ids are pseudonyms whose key rotates each epoch, so an
-- installation active across an epoch boundary counts once per epoch.
SELECT
    day,
    platform,
    uniqMerge(installations) AS installations
FROM veil.installations_daily
GROUP BY day, platform
ORDER BY day, installations DESC, platform
