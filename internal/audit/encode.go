package audit

import (
	"math"
	"math/rand/v2"
)

// Encode is one file of a title, with the fields a device reports about it.
type Encode struct {
	Title       int // index into the catalog's titles
	Minutes     int // the title's running time in the catalog
	DurationMs  int64
	BitrateKbps int64 // overall: video plus audio
	SizeBytes   int64
	Width       int64
	Height      int64
	VideoCodec  string
	AudioCodec  string
}

// A resolution class: the full 16:9 frame and the share of encodes made in it.
type resClass struct {
	w, h   int64
	weight int
	// usual overall video bitrate range in kbit/s for h264; other codecs scale it
	lo, hi float64
}

var resClasses = []resClass{
	{720, 480, 15, 900, 2500},      // DVD rips: SD
	{1280, 720, 25, 2000, 6000},    // 720p
	{1920, 1080, 45, 4000, 14000},  // 1080p
	{3840, 2160, 15, 14000, 40000}, // 2160p
}

// Codec efficiency against h264 at the same quality, and the share of encodes.
type videoCodec struct {
	name   string
	factor float64
	weight int
}

var videoCodecs = []videoCodec{{"h264", 1, 50}, {"hevc", 0.6, 35}, {"av1", 0.5, 15}}

// An audio track's codec, its bitrate range in kbit/s and the share of encodes.
type audioTrack struct {
	name   string
	lo, hi float64
	weight int
}

var audioTracks = []audioTrack{{"aac", 128, 384, 35}, {"ac3", 384, 640, 25}, {"eac3", 640, 1024, 15}, {"dts", 768, 1509, 15}, {"truehd", 2500, 5000, 10}}

func weighted[T any](r *rand.Rand, items []T, weight func(T) int) T {
	sum := 0
	for _, it := range items {
		sum += weight(it)
	}
	n := r.IntN(sum)
	for _, it := range items {
		if n -= weight(it); n < 0 {
			return it
		}
	}
	return items[len(items)-1]
}

// logUniform draws from [lo, hi) evenly on a log scale, as encoder settings spread.
func logUniform(r *rand.Rand, lo, hi float64) float64 {
	return lo * math.Exp(r.Float64()*math.Log(hi/lo))
}

// Simulate makes perTitle encodes of every title, deterministically from seed.
// A title's releases share its exact running time within a couple of seconds;
// 2.39:1 films (60%) are cropped to a letterbox whose height varies by a few
// lines between encodes, as rips do; the bitrate follows resolution, codec and
// picture area, and the size follows bitrate and duration plus container overhead.
func Simulate(titles []Title, perTitle int, seed uint64) []Encode {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed_a0d1_7000_0000))
	out := make([]Encode, 0, len(titles)*perTitle)
	for i, t := range titles {
		base := int64(t.Minutes)*60_000 + r.Int64N(60_000)
		scope := r.IntN(10) < 6
		for range perTitle {
			res := weighted(r, resClasses, func(c resClass) int { return c.weight })
			vc := weighted(r, videoCodecs, func(c videoCodec) int { return c.weight })
			at := weighted(r, audioTracks, func(a audioTrack) int { return a.weight })
			w, h := res.w, res.h
			if scope {
				// 2.39:1 cropped, to an even height, give or take a few lines.
				h = (int64(float64(w)/2.39) + r.Int64N(9) - 4) / 2 * 2
			}
			area := float64(h) / float64(res.h)
			video := logUniform(r, res.lo, res.hi) * vc.factor * math.Sqrt(area)
			audio := logUniform(r, at.lo, at.hi)
			kbps := int64(video + audio)
			dur := base + r.Int64N(4001) - 2000 // releases differ by a second or two
			size := int64(float64(kbps)*125*float64(dur)/1000*(1.003+0.01*r.Float64())) + 16<<10
			out = append(out, Encode{Title: i, Minutes: t.Minutes, DurationMs: dur, BitrateKbps: kbps, SizeBytes: size,
				Width: w, Height: h, VideoCodec: vc.name, AudioCodec: at.name})
		}
	}
	return out
}
