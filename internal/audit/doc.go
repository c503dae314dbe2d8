// Package audit measures how identifying the media fields of a playback event are:
// the product's promise is that the clean topic does not tell which film a person
// watched. It is pure: given a catalog, a number of encodes per title and a seed it
// always returns the same report, and it reads nothing but the catalog it is given.
//
// Method. The catalog is a list of real films with their running time in minutes
// (vega-datasets' movies.json; titles without a running time are skipped). For each
// title Simulate makes a few realistic files: an exact running time (the catalog's
// minutes plus random seconds, jittered by a second or two between releases), a
// resolution class with a 16:9 or 2.39:1 (cropped letterbox) picture, a video codec
// (h264, hevc, av1) with a bitrate drawn from that codec's usual range for the
// resolution, an audio track, and the byte size that follows from bitrate and
// duration. An attacker who sees one event is assumed to know every title's files
// (he can rip the same films) and to try to name the title.
//
// Each encode is reduced to a tuple: RawTuple (duration_ms, bitrate_kbps,
// size_bytes, width, height: what a device sends), GeneralizedTuple (the duration,
// bitrate, size and resolution buckets of package privacy, computed by its real
// functions: what the clean topic holds) and MinutesTuple (exact running time in
// minutes alone, a reference point). The k of an encode is the number of distinct
// TITLES having at least one encode with the same tuple, its own title included;
// several encodes of one title in a cell count once. An encode is unique when k = 1:
// its tuple names its title. A title is unique when at least one of its encodes is
// (the worst case: that file gives it away). Reported per tuple: unique titles and
// encodes (count and share), the distribution of k over encodes (min, p10, median,
// p90, nearest-rank), and the rarest cells.
//
// Targets (Targets): at most 1% of titles unique and a median k of at least 20 under
// the generalized tuple. The raw tuple is expected to make nearly every title unique;
// that it does shows the audit detects the risk it measures.
package audit
