package privacy

import "time"

// The generalization rules. Each is deliberately coarse: the re-identification audit
// (package audit, `enricher audit`, run by the tests on a real film catalog) checks
// that the combination of duration, bitrate, size and resolution buckets leaves at
// most 1% of titles unique and a median of at least 20 titles per combination.
// The tail steps (>=150m, a bitrate ladder growing fourfold) were widened until it did
// for every seed tried, not just one.

// HourOf truncates t to the hour, in UTC.
func HourOf(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

type bucket struct {
	below int64 // exclusive upper bound of the bucket
	label string
}

func bucketOf(v int64, buckets []bucket, last string) string {
	for _, b := range buckets {
		if v < b.below {
			return b.label
		}
	}
	return last
}

const (
	second = int64(1000)
	minute = 60 * second
)

// Video running time: 15-minute steps up to an hour, 30-minute steps up to two and
// a half hours; longer films are too few to be told apart (see internal/audit).
var videoDurations = []bucket{
	{1 * minute, "<1m"}, {5 * minute, "1-5m"}, {15 * minute, "5-15m"}, {30 * minute, "15-30m"},
	{45 * minute, "30-45m"}, {60 * minute, "45-60m"}, {90 * minute, "60-90m"}, {120 * minute, "90-120m"},
	{150 * minute, "120-150m"},
}

// Music track length: one-minute steps where most songs are.
var musicDurations = []bucket{
	{1 * minute, "<1m"}, {2 * minute, "1-2m"}, {3 * minute, "2-3m"}, {4 * minute, "3-4m"}, {5 * minute, "4-5m"},
	{7 * minute, "5-7m"}, {10 * minute, "7-10m"}, {20 * minute, "10-20m"},
}

// DurationBucket generalizes a running time in milliseconds; the steps depend on the
// media type. A photo has no running time ("still") unless it is a motion clip.
func DurationBucket(mediaType string, ms int64) string {
	switch {
	case ms <= 0:
		if mediaType == "photo" {
			return "still"
		}
		return "unknown"
	case mediaType == "music":
		return bucketOf(ms, musicDurations, ">=20m")
	case mediaType == "photo":
		return bucketOf(ms, []bucket{{10 * second, "clip<10s"}, {minute, "clip10-60s"}}, "clip>=1m")
	default:
		return bucketOf(ms, videoDurations, ">=150m")
	}
}

// Video bitrate ladder in kbit/s, a factor of four at each step: finer steps single
// out films whose encode is unusual for its resolution (see internal/audit).
var videoBitrates = []bucket{{1000, "<1M"}, {4000, "1-4M"}, {16000, "4-16M"}, {64000, "16-64M"}}

// Audio bitrate ladder: the usual lossy tiers, then lossless.
var musicBitrates = []bucket{{96, "<96k"}, {192, "96-192k"}, {320, "192-320k"}, {700, "320-700k"}}

// BitrateBucket generalizes a bitrate in kbit/s onto a ladder chosen by media type.
func BitrateBucket(mediaType string, kbps int64) string {
	switch {
	case mediaType == "photo": // a photo has no bitrate, whatever the device sent
		return "n/a"
	case kbps <= 0:
		return "unknown"
	case mediaType == "music":
		return bucketOf(kbps, musicBitrates, "lossless")
	default:
		return bucketOf(kbps, videoBitrates, ">=64M")
	}
}

const (
	kb = int64(1) << 10
	mb = kb << 10
	gb = mb << 10
)

// File size: decades up to a gigabyte, then factors of four.
var sizes = []bucket{
	{mb, "<1MB"}, {10 * mb, "1-10MB"}, {100 * mb, "10-100MB"}, {gb, "100MB-1GB"},
	{4 * gb, "1-4GB"}, {16 * gb, "4-16GB"}, {64 * gb, "16-64GB"},
}

// SizeBucket generalizes a file size in bytes.
func SizeBucket(bytes int64) string {
	if bytes <= 0 {
		return "unknown"
	}
	return bucketOf(bytes, sizes, ">=64GB")
}

// Resolution names the class of a picture size instead of its exact pixels. Video is
// classed by its larger dimension against 16:9 references, so letterboxed (2.39:1)
// and pillarboxed encodes land in the class people call them; photos are classed by
// megapixels.
func Resolution(mediaType string, width, height int64) string {
	if mediaType == "music" { // cover art dimensions say nothing about the audio
		return "none"
	}
	if width <= 0 || height <= 0 {
		return "unknown"
	}
	if mediaType == "photo" {
		mp := width * height
		return bucketOf(mp, []bucket{{2_000_000, "<2MP"}, {8_000_000, "2-8MP"}, {16_000_000, "8-16MP"}, {32_000_000, "16-32MP"}}, ">=32MP")
	}
	w, h := width, height
	if w < h { // portrait video
		w, h = h, w
	}
	switch {
	case w >= 6000 || h >= 3400:
		return "8K"
	case w >= 3000 || h >= 1700:
		return "4K"
	case w >= 1700 || h >= 950:
		return "1080p"
	case w >= 1100 || h >= 650:
		return "720p"
	default:
		return "SD"
	}
}

// PlayedBucket generalizes how much of an item was played into coarse shares.
func PlayedBucket(playedMs, durationMs int64) string {
	switch {
	case durationMs <= 0:
		return "n/a"
	case playedMs <= 0:
		return "0%"
	}
	pct := int64(float64(playedMs) * 100 / float64(durationMs)) // float: no overflow on hostile values
	return bucketOf(pct, []bucket{{10, "<10%"}, {25, "10-25%"}, {50, "25-50%"}, {75, "50-75%"}, {90, "75-90%"}}, ">=90%")
}
