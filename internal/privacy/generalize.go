package privacy

import (
	"fmt"
	"strings"
	"time"
)

// The generalization rules. Each is deliberately coarse. For video they are set
// by the re-identification audit (package audit, `enricher audit`, run by the
// tests on a real film catalog): what the clean topic keeps of a local film file,
// the media fields together, must leave at most 1% of films unique and a median of
// at least 20 films per combination, in every one of ten simulated libraries. The
// running time is what names a film (its exact minutes alone name 2% of them), so
// a feature keeps only that it lasts an hour or more; its size would give the
// running time back through the bitrate, so a video's size is withheld; and the
// bitrate ladder has three steps.

// HourOf truncates t to the hour, in UTC.
func HourOf(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

type bucket struct {
	below int64 // exclusive upper bound of the bucket
	label string
}

// A ladder is the buckets of one rule for one media type: a value goes to the
// first bucket it lies below, else to last.
type ladder struct {
	buckets []bucket
	last    string
}

func (l ladder) of(v int64) string {
	for _, b := range l.buckets {
		if v < b.below {
			return b.label
		}
	}
	return l.last
}

// labels lists the ladder's buckets in order.
func (l ladder) labels() []string {
	out := make([]string, 0, len(l.buckets)+1)
	for _, b := range l.buckets {
		out = append(out, b.label)
	}
	return append(out, l.last)
}

const (
	second = int64(1000)
	minute = 60 * second
)

// Video running time: steps where clips and episodes differ; everything from an
// hour on is one bucket, since a feature's running time names it.
var videoDurations = ladder{[]bucket{
	{1 * minute, "<1m"}, {5 * minute, "1-5m"}, {15 * minute, "5-15m"}, {30 * minute, "15-30m"},
	{45 * minute, "30-45m"}, {60 * minute, "45-60m"},
}, ">=60m"}

// Music track length: one-minute steps where most songs are.
var musicDurations = ladder{[]bucket{
	{1 * minute, "<1m"}, {2 * minute, "1-2m"}, {3 * minute, "2-3m"}, {4 * minute, "3-4m"}, {5 * minute, "4-5m"},
	{7 * minute, "5-7m"}, {10 * minute, "7-10m"}, {20 * minute, "10-20m"},
}, ">=20m"}

// Length of a photo's motion clip.
var clipDurations = ladder{[]bucket{{10 * second, "clip<10s"}, {minute, "clip10-60s"}}, "clip>=1m"}

// Labels of values that are not measured.
const (
	unknown    = "unknown"  // the device sent nothing usable (zero or negative)
	still      = "still"    // a photo without a motion clip
	notApplied = "n/a"      // the measure does not apply to the media type
	withheld   = "withheld" // the measure applies but is not kept
	noPicture  = "none"     // music has no picture
	playedNone = "0%"       // nothing played
)

// DurationBucket generalizes a running time in milliseconds; the steps depend on the
// media type. A photo has no running time ("still") unless it is a motion clip.
func DurationBucket(mediaType string, ms int64) string {
	switch {
	case ms <= 0:
		if mediaType == "photo" {
			return still
		}
		return unknown
	case mediaType == "music":
		return musicDurations.of(ms)
	case mediaType == "photo":
		return clipDurations.of(ms)
	default:
		return videoDurations.of(ms)
	}
}

// Video bitrate ladder in kbit/s: below what a 1080p encode needs, encodes of
// 1080p and 4K, and remuxes (a disc's own streams).
var videoBitrates = ladder{[]bucket{{4000, "<4M"}, {16000, "4-16M"}}, ">=16M"}

// Audio bitrate ladder: the usual lossy tiers, then lossless.
var musicBitrates = ladder{[]bucket{{96, "<96k"}, {192, "96-192k"}, {320, "192-320k"}, {700, "320-700k"}}, "lossless"}

// BitrateBucket generalizes a bitrate in kbit/s onto a ladder chosen by media type.
func BitrateBucket(mediaType string, kbps int64) string {
	switch {
	case mediaType == "photo": // a photo has no bitrate, whatever the device sent
		return notApplied
	case kbps <= 0:
		return unknown
	case mediaType == "music":
		return musicBitrates.of(kbps)
	default:
		return videoBitrates.of(kbps)
	}
}

const (
	kb = int64(1) << 10
	mb = kb << 10
	gb = mb << 10
)

// File size of music and photos: decades up to a gigabyte, then factors of four.
var sizes = ladder{[]bucket{
	{mb, "<1MB"}, {10 * mb, "1-10MB"}, {100 * mb, "10-100MB"}, {gb, "100MB-1GB"},
	{4 * gb, "1-4GB"}, {16 * gb, "4-16GB"}, {64 * gb, "16-64GB"},
}, ">=64GB"}

// SizeBucket generalizes a file size in bytes. A video's size is withheld: it is
// its bitrate times its running time, and would tell the running time that
// DurationBucket hides.
func SizeBucket(mediaType string, bytes int64) string {
	switch {
	case mediaType == "video":
		return withheld
	case bytes <= 0:
		return unknown
	}
	return sizes.of(bytes)
}

// Photo resolution in pixels (width times height).
var photoPixels = ladder{[]bucket{{2_000_000, "<2MP"}, {8_000_000, "2-8MP"}, {16_000_000, "8-16MP"}, {32_000_000, "16-32MP"}}, ">=32MP"}

// A videoClass is a video resolution class and the least width or height (of
// the larger and the smaller dimension) that reaches it.
type videoClass struct {
	label         string
	width, height int64
}

// videoClasses from the largest: a video is in the first class whose width or
// height it reaches, so that letterboxed (2.39:1) and pillarboxed encodes land in
// the class people call them.
var videoClasses = []videoClass{{"8K", 6000, 3400}, {"4K", 3000, 1700}, {"1080p", 1700, 950}, {"720p", 1100, 650}}

const lowestVideoClass = "SD"

// Resolution names the class of a picture size instead of its exact pixels. Video is
// classed by its larger dimension against 16:9 references (videoClasses); photos
// are classed by megapixels.
func Resolution(mediaType string, width, height int64) string {
	if mediaType == "music" { // cover art dimensions say nothing about the audio
		return noPicture
	}
	if width <= 0 || height <= 0 {
		return unknown
	}
	if mediaType == "photo" {
		return photoPixels.of(width * height)
	}
	w, h := width, height
	if w < h { // portrait video
		w, h = h, w
	}
	for _, c := range videoClasses {
		if w >= c.width || h >= c.height {
			return c.label
		}
	}
	return lowestVideoClass
}

// Share of the item played, in percent.
var playedShares = ladder{[]bucket{{10, "<10%"}, {25, "10-25%"}, {50, "25-50%"}, {75, "50-75%"}, {90, "75-90%"}}, ">=90%"}

// PlayedBucket generalizes how much of an item was played into coarse shares.
func PlayedBucket(playedMs, durationMs int64) string {
	switch {
	case durationMs <= 0:
		return notApplied
	case playedMs <= 0:
		return playedNone
	}
	pct := int64(float64(playedMs) * 100 / float64(durationMs)) // float: no overflow on hostile values
	return playedShares.of(pct)
}

// Buckets lists, for a generalize rule, every value it can write, in sentences
// for the privacy tab: one per media type where the rule depends on it, read from
// the same tables the rule uses. It is empty for other treatments.
func Buckets(t Treatment) []string {
	list := func(what string, labels ...string) string { return what + ": " + strings.Join(labels, ", ") }
	switch t.String() {
	case "generalize:hour":
		return []string{"the hour (UTC) the event happened in"}
	case "generalize:duration":
		return []string{
			list("video", videoDurations.labels()...),
			list("music", musicDurations.labels()...),
			list("photo", append([]string{still}, clipDurations.labels()...)...),
			list("no running time", unknown),
		}
	case "generalize:bitrate":
		return []string{
			list("video", videoBitrates.labels()...),
			list("music", musicBitrates.labels()...),
			list("photo", notApplied),
			list("no bitrate", unknown),
		}
	case "generalize:size":
		return []string{
			list("video", withheld),
			list("music and photos", sizes.labels()...),
			list("no size", unknown),
		}
	case "generalize:resolution":
		var video []string
		for _, c := range videoClasses {
			video = append(video, fmt.Sprintf("%s (the longer side at least %d or the shorter at least %d pixels)", c.label, c.width, c.height))
		}
		return []string{
			list("video", append(video, lowestVideoClass)...),
			list("photo", photoPixels.labels()...),
			list("music", noPicture),
			list("no picture size", unknown),
		}
	case "generalize:played":
		return []string{list("share played", append([]string{playedNone}, playedShares.labels()...)...), list("no running time", notApplied)}
	}
	return nil
}
