package privacy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/privacy"
)

const (
	sec    = int64(1000)
	minute = 60 * sec
	mib    = int64(1) << 20
	gib    = int64(1) << 30
)

func TestDurationBucket(t *testing.T) {
	tests := []struct {
		name      string
		mediaType string
		ms        int64
		want      string
	}{
		{"a video of zero length is unknown", "video", 0, "unknown"},
		{"a negative video length is unknown", "video", -5 * minute, "unknown"},
		{"a video just under a minute is under a minute", "video", minute - 1, "<1m"},
		{"a video of exactly one minute starts the 1-5m bucket", "video", minute, "1-5m"},
		{"a 22-minute episode is 15-30m", "video", 22*minute + 13*sec, "15-30m"},
		{"a 42-minute episode is 30-45m", "video", 42 * minute, "30-45m"},
		{"a video a millisecond short of an hour is 45-60m", "video", 60*minute - 1, "45-60m"},
		{"a video of exactly 60 minutes is past the ladder", "video", 60 * minute, ">=60m"},
		{"the example film of 131 minutes is past the ladder", "video", 7862000, ">=60m"},
		{"a 95-minute film and a 3-hour one are the same", "video", 95 * minute, ">=60m"},
		{"a nine-hour video is past the ladder", "video", 9 * 60 * minute, ">=60m"},
		{"an unknown media type uses the video ladder", "", 50 * minute, "45-60m"},
		{"a music track of zero length is unknown", "music", 0, "unknown"},
		{"a 3:30 song is 3-4m", "music", 3*minute + 30*sec, "3-4m"},
		{"a song of exactly four minutes is 4-5m", "music", 4 * minute, "4-5m"},
		{"an 8-minute track is 7-10m", "music", 8 * minute, "7-10m"},
		{"a 20-minute track is past the music ladder", "music", 20 * minute, ">=20m"},
		{"a photo of zero length is a still", "photo", 0, "still"},
		{"a photo of negative length is a still", "photo", -1, "still"},
		{"a 3-second motion photo is a short clip", "photo", 3 * sec, "clip<10s"},
		{"a 10-second motion photo is clip10-60s", "photo", 10 * sec, "clip10-60s"},
		{"a minute-long motion photo is clip>=1m", "photo", minute, "clip>=1m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := privacy.DurationBucket(tt.mediaType, tt.ms); got != tt.want {
				t.Errorf("DurationBucket(%q, %d) = %q, want %q", tt.mediaType, tt.ms, got, tt.want)
			}
		})
	}
}

func TestBitrateBucket(t *testing.T) {
	tests := []struct {
		name      string
		mediaType string
		kbps      int64
		want      string
	}{
		{"a video bitrate of zero is unknown", "video", 0, "unknown"},
		{"a negative video bitrate is unknown", "video", -1, "unknown"},
		{"a 999 kbit/s video is under 4M", "video", 999, "<4M"},
		{"a 3999 kbit/s video is under 4M", "video", 3999, "<4M"},
		{"a 4000 kbit/s video starts the 4-16M step", "video", 4000, "4-16M"},
		{"the example 14320 kbit/s film is 4-16M", "video", 14320, "4-16M"},
		{"a 16000 kbit/s video is past the ladder", "video", 16000, ">=16M"},
		{"a 64000 kbit/s UHD remux is past the ladder", "video", 64000, ">=16M"},
		{"an unknown media type uses the video ladder", "", 5000, "4-16M"},
		{"a 64 kbit/s audiobook is under 96k", "music", 64, "<96k"},
		{"a 96 kbit/s track starts 96-192k", "music", 96, "96-192k"},
		{"a 320 kbit/s MP3 is 320-700k", "music", 320, "320-700k"},
		{"a 700 kbit/s track counts as lossless", "music", 700, "lossless"},
		{"a CD-quality FLAC is lossless", "music", 1411, "lossless"},
		{"a music bitrate of zero is unknown", "music", 0, "unknown"},
		{"a photo with a bitrate has none that applies", "photo", 5000, "n/a"},
		{"a photo without a bitrate has none that applies", "photo", 0, "n/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := privacy.BitrateBucket(tt.mediaType, tt.kbps); got != tt.want {
				t.Errorf("BitrateBucket(%q, %d) = %q, want %q", tt.mediaType, tt.kbps, got, tt.want)
			}
		})
	}
}

func TestSizeBucket(t *testing.T) {
	tests := []struct {
		name      string
		mediaType string
		bytes     int64
		want      string
	}{
		{"an empty file is unknown", "music", 0, "unknown"},
		{"a negative size is unknown", "photo", -1, "unknown"},
		{"one byte is under a megabyte", "photo", 1, "<1MB"},
		{"exactly one MiB starts 1-10MB", "photo", mib, "1-10MB"},
		{"a 43 MiB FLAC album track is 10-100MB", "music", 43 * mib, "10-100MB"},
		{"one byte short of a GiB is 100MB-1GB", "music", gib - 1, "100MB-1GB"},
		{"exactly one GiB starts 1-4GB", "music", gib, "1-4GB"},
		{"a 5 GiB DSD album is 4-16GB", "music", 5 * gib, "4-16GB"},
		{"a 60 GiB archive is 16-64GB", "", 60 * gib, "16-64GB"},
		{"exactly 64 GiB is past the ladder", "", 64 * gib, ">=64GB"},
		{"the size of the example 13 GiB film is withheld", "video", 14075432960, "withheld"},
		{"the size of a video is withheld even when unknown", "video", 0, "withheld"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := privacy.SizeBucket(tt.mediaType, tt.bytes); got != tt.want {
				t.Errorf("SizeBucket(%q, %d) = %q, want %q", tt.mediaType, tt.bytes, got, tt.want)
			}
		})
	}
}

func TestResolution(t *testing.T) {
	tests := []struct {
		name          string
		mediaType     string
		width, height int64
		want          string
	}{
		{"music has no picture", "music", 0, 0, "none"},
		{"a video without dimensions is unknown", "video", 0, 0, "unknown"},
		{"a video with only a width is unknown", "video", 1920, 0, "unknown"},
		{"negative dimensions are unknown", "video", -1920, -1080, "unknown"},
		{"PAL DVD is SD", "video", 720, 576, "SD"},
		{"NTSC DVD is SD", "video", 720, 480, "SD"},
		{"1280x720 is 720p", "video", 1280, 720, "720p"},
		{"an anamorphic 960x720 is 720p", "video", 960, 720, "720p"},
		{"1920x1080 is 1080p", "video", 1920, 1080, "1080p"},
		{"a letterboxed 1920x800 scope film is 1080p", "video", 1920, 800, "1080p"},
		{"an anamorphic HDV 1440x1080 is 1080p", "video", 1440, 1080, "1080p"},
		{"a portrait 1080x1920 phone video is 1080p", "video", 1080, 1920, "1080p"},
		{"a portrait 720x1280 phone video is 720p", "video", 720, 1280, "720p"},
		{"3840x2160 is 4K", "video", 3840, 2160, "4K"},
		{"the letterboxed example 3840x1606 is 4K", "video", 3840, 1606, "4K"},
		{"DCI 4096x2160 is 4K", "video", 4096, 2160, "4K"},
		{"a portrait 2160x3840 video is 4K", "video", 2160, 3840, "4K"},
		{"7680x4320 is 8K", "video", 7680, 4320, "8K"},
		{"a letterboxed 7680x3216 is 8K", "video", 7680, 3216, "8K"},
		{"a photo without dimensions is unknown", "photo", 0, 0, "unknown"},
		{"a 1600x1200 photo is under 2MP", "photo", 1600, 1200, "<2MP"},
		{"a photo of exactly 2MP is 2-8MP", "photo", 2000, 1000, "2-8MP"},
		{"a 12MP phone photo is 8-16MP", "photo", 4032, 3024, "8-16MP"},
		{"a 24MP camera photo is 16-32MP", "photo", 6000, 4000, "16-32MP"},
		{"a 45MP camera photo is >=32MP", "photo", 8192, 5464, ">=32MP"},
		{"a portrait photo counts the same megapixels", "photo", 3024, 4032, "8-16MP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := privacy.Resolution(tt.mediaType, tt.width, tt.height); got != tt.want {
				t.Errorf("Resolution(%q, %d, %d) = %q, want %q", tt.mediaType, tt.width, tt.height, got, tt.want)
			}
		})
	}
}

func TestPlayedBucket(t *testing.T) {
	tests := []struct {
		name               string
		played, durationMs int64
		want               string
	}{
		{"an item without a duration has no share", 5000, 0, "n/a"},
		{"a negative duration has no share", 5000, -1, "n/a"},
		{"nothing played is 0%", 0, 100 * sec, "0%"},
		{"a negative played time is 0%", -1, 100 * sec, "0%"},
		{"a millisecond played is under 10%", 1, 100 * sec, "<10%"},
		{"9.99% played is under 10%", 9990, 100 * sec, "<10%"},
		{"exactly 10% played starts 10-25%", 10 * sec, 100 * sec, "10-25%"},
		{"exactly half played is 50-75%", 50 * sec, 100 * sec, "50-75%"},
		{"the example 5121 of 7862 seconds is 50-75%", 5121000, 7862000, "50-75%"},
		{"89% played is 75-90%", 89 * sec, 100 * sec, "75-90%"},
		{"exactly 90% played is >=90%", 90 * sec, 100 * sec, ">=90%"},
		{"the whole item played is >=90%", 100 * sec, 100 * sec, ">=90%"},
		{"more than the duration played (a rewatch) is >=90%", 150 * sec, 100 * sec, ">=90%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := privacy.PlayedBucket(tt.played, tt.durationMs); got != tt.want {
				t.Errorf("PlayedBucket(%d, %d) = %q, want %q", tt.played, tt.durationMs, got, tt.want)
			}
		})
	}
}

func TestHourOf(t *testing.T) {
	kolkata := time.FixedZone("IST", 5*3600+30*60)
	tests := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"the example time loses its minutes, seconds and milliseconds", time.UnixMilli(1795526345123), time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)},
		{"a time exactly on the hour is unchanged", time.Date(2026, 1, 1, 7, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 7, 0, 0, 0, time.UTC)},
		{"the last millisecond of an hour stays in that hour", time.Date(2026, 1, 1, 7, 59, 59, 999e6, time.UTC), time.Date(2026, 1, 1, 7, 0, 0, 0, time.UTC)},
		{"a half-hour time zone is truncated on the UTC hour", time.Date(2026, 3, 1, 10, 59, 0, 0, kolkata), time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC)},
		{"a time before 1970 is truncated downwards", time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := privacy.HourOf(tt.in)
			if !got.Equal(tt.want) {
				t.Errorf("HourOf(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if got.Location() != time.UTC {
				t.Errorf("HourOf(%v) is in %v, want UTC", tt.in, got.Location())
			}
		})
	}
}

// Buckets, which the privacy tab prints, names every value a rule writes: each
// rule is swept over its inputs and every label it returns must be in the
// sentence for its media type.
func TestBucketsNameEveryValueTheRulesWrite(t *testing.T) {
	sentence := func(rule, prefix string) string {
		for _, s := range privacy.Buckets(privacy.Treatment{Name: "generalize", Rule: rule}) {
			if strings.HasPrefix(s, prefix+": ") {
				return s
			}
		}
		t.Fatalf("Buckets(generalize:%s) has no sentence for %q", rule, prefix)
		return ""
	}
	check := func(rule, prefix, label string) {
		t.Helper()
		s := sentence(rule, prefix)
		for _, item := range strings.Split(strings.TrimPrefix(s, prefix+": "), ", ") {
			if item == label || strings.HasPrefix(item, label+" (") {
				return
			}
		}
		t.Errorf("Buckets(generalize:%s) says %q, which lacks %q", rule, s, label)
	}
	for _, mt := range []string{"video", "music", "photo"} {
		for ms := int64(1); ms < 30*60*minute; ms = ms*21/20 + 1 {
			check("duration", mt, privacy.DurationBucket(mt, ms))
		}
		for kbps := int64(1); kbps < 1<<20; kbps = kbps*21/20 + 1 {
			check("bitrate", mt, privacy.BitrateBucket(mt, kbps))
		}
		for px := int64(1); px < 20000; px = px*21/20 + 1 {
			check("resolution", mt, privacy.Resolution(mt, px, px*9/16+1))
		}
	}
	for b := int64(1); b < 1<<40; b = b*21/20 + 1 {
		check("size", "music and photos", privacy.SizeBucket("music", b))
		check("size", "video", privacy.SizeBucket("video", b))
	}
	check("duration", "photo", privacy.DurationBucket("photo", 0))
	check("duration", "no running time", privacy.DurationBucket("video", 0))
	check("bitrate", "no bitrate", privacy.BitrateBucket("music", 0))
	check("size", "no size", privacy.SizeBucket("photo", 0))
	check("resolution", "no picture size", privacy.Resolution("video", 0, 0))
	for p := int64(0); p <= 200; p++ {
		check("played", "share played", privacy.PlayedBucket(p*1000, 100_000))
	}
	check("played", "no running time", privacy.PlayedBucket(1, 0))
	for _, rule := range []string{"hour", "duration", "bitrate", "size", "resolution", "played"} {
		if len(privacy.Buckets(privacy.Treatment{Name: "generalize", Rule: rule})) == 0 {
			t.Errorf("Buckets(generalize:%s) is empty", rule)
		}
	}
	if b := privacy.Buckets(privacy.Treatment{Name: "keep"}); len(b) != 0 {
		t.Errorf("Buckets(keep) = %q, want none", b)
	}
}
