// Package audit measures how identifying the media fields of a playback event are:
// the product's promise is that the clean topic does not tell which film a person
// watched. It is pure: given a catalog, the schemas and the options it always
// returns the same report, and it reads nothing but what it is given.
//
// What is measured. The tuple (NewTuple) is derived from the schemas and the
// compiled privacy policy, never listed by hand: every clean field the policy
// writes from a raw playback field whose "about" attribute is "media" and whose
// treatment keeps something (today media_source, media_type, container,
// video_codec, audio_codec, duration_bucket, bitrate_bucket, size_bucket,
// resolution and catalog_id). Each simulated file is turned into a raw playback
// record (Encode.Fields) and passed through the real policy (KindPolicy.ApplyFlat),
// so the audit measures exactly what the clean topic would hold. A media field the
// policy keeps but the encode model has no value for fails the audit: a field kept
// later cannot be left out.
//
// The films. The catalog is a list of real films (vega-datasets' movies.json) with
// their running time, release year and popularity (IMDb votes, or gross when there
// are none); titles without a running time are skipped. For each title Simulate
// makes files the way real libraries hold them: which releases exist depends on the
// film's year and popularity (a DVD for every film, a Blu-ray for recent or popular
// ones, 4K mostly for popular ones, streaming releases for most, a few TV
// recordings), and each release has its own containers, codecs, audio tracks and
// bitrates (see releases in encode.go). An attacker who sees one event is assumed
// to know this model and every title's files (he can rip the same films) and to try
// to name the title.
//
// Measures. The k of a file is the number of distinct TITLES with a file of the
// same tuple, its own included; several files of one title in a cell count once. A
// file is unique when k = 1: its tuple names its title. A title is unique when one
// of its files is (the worst case: that file gives it away). Each run measures three
// tuples: the clean tuple, the same fields raw (as a device sends them) and the
// catalog's exact minutes alone; the last two are references that show the audit
// detects the risk it measures (raw values name every title, exact minutes about
// 2% of them).
//
// Seeds and targets. A run simulates DefaultSeeds libraries (seeds 1 to 10), once
// with one file per title and once with DefaultSeveral, and reports each seed and
// the minimum, median and maximum over the seeds. The targets (DefaultTargets: at
// most 1% of titles unique and a median k of at least 20 under the clean tuple)
// apply to every seed with one file per title; the worst seed is the one with the
// most unique titles. The result of the default run on the pinned catalog is
// recorded in result.json (Recorded) for the privacy tab, which is built without
// the catalog at hand.
package audit
