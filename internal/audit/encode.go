package audit

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Encode is one file of a title, with what a device reports about it, spelled the
// way media servers report it (ffprobe's codec names, file extensions).
type Encode struct {
	Title       int    // index into the catalog's titles
	Minutes     int    // the title's running time in the catalog
	Release     string // which kind of release the file is (see releases)
	Container   string
	VideoCodec  string
	AudioCodec  string
	DurationMs  int64
	BitrateKbps int64 // overall: video plus audio
	SizeBytes   int64
	Width       int64
	Height      int64
	// CatalogID is what the client put in catalog_id: empty for a local file,
	// except from clients that wrongly fill it with their own library id.
	CatalogID string
}

// Fields is the raw playback record of the file: every field the encode model
// knows a value for, in goavro's native form. The other fields of the raw schema
// are left at their zero value. The audit refuses to run when the policy keeps a
// media field that is not here.
func (e Encode) Fields() map[string]any {
	return map[string]any{
		"media_source": "local",
		"media_type":   "video",
		"container":    e.Container,
		"video_codec":  e.VideoCodec,
		"audio_codec":  e.AudioCodec,
		"duration_ms":  e.DurationMs,
		"bitrate_kbps": int32(e.BitrateKbps),
		"size_bytes":   e.SizeBytes,
		"width":        int32(e.Width),
		"height":       int32(e.Height),
		"catalog_id":   e.CatalogID,
	}
}

// The encode model. A film's files come from the releases that exist for it, and
// which exist depends on when it came out and how popular it is:
//
//   - every film has a DVD, ripped to XviD in AVI (the 2000s' CD-sized rips,
//     commoner the older the film), to H.264 in MKV or MP4, or remuxed as MPEG-2
//     (in MKV or as VOB); a third of DVDs are PAL, 4% faster (24 → 25 frames per
//     second), so their running time is 4% shorter;
//   - a Blu-ray exists for every film from 2006 on and for older ones more often
//     the more popular they are; it gives 1080p and 720p H.264 encodes, 1080p HEVC
//     (x265) and a few AV1 encodes, and remuxes (H.264, or VC-1 and MPEG-2 on early
//     discs, with lossless DTS-HD MA, TrueHD or PCM audio, in MKV or M2TS);
//   - a 4K (UHD Blu-ray, HDR) release exists mostly for popular films: HEVC
//     remuxes and encodes, a few AV1;
//   - streaming services sell most films (more often popular and recent ones):
//     WEB-DL H.264 at 1080p and 720p with E-AC-3 or AAC, some HEVC, and 4K HEVC
//     (a little VP9) for popular films;
//   - a few files are TV recordings: MPEG-2 (ATSC) or H.264 (DVB) in MPEG-TS,
//     padded by a few minutes.
//
// Popular films more often have an extended cut, 5 to 30 minutes longer. A film
// keeps its aspect ratio across releases (1.37:1 before 1955, else 2.39:1, 1.85:1
// or 16:9); encodes crop the black bars, give or take a few lines, remuxes and TV
// keep the full frame. Bitrates follow the release's usual range, the film's own
// grain (some films need more bits than others) and the picture area; the size
// follows bitrate and duration plus container overhead. A few clients put their
// own library id in catalog_id.
//
// The attacker of the audit knows this model and every title's files (he can rip
// the same films); what he does not know is which file a user has.
type release struct {
	name   string
	source string
	share  float64 // relative share among the releases a film has
	make   func(r *rand.Rand, f *film, e *Encode)
}

// film is what the model decides once per title, before any of its files.
type film struct {
	Title
	year                   int
	ms                     int64   // exact running time of the theatrical cut
	extendedMs             int64   // of an extended cut, 0 when there is none
	aspect                 float64 // picture aspect ratio
	grain                  float64 // bitrate factor of the film, around 1
	bluray, uhd, web, web4 bool    // releases that exist
}

func newFilm(r *rand.Rand, t Title) *film {
	f := &film{Title: t, year: t.Year}
	if f.year == 0 {
		f.year = 2000
	}
	p := t.Popularity
	f.ms = int64(t.Minutes)*60_000 - 30_000 + r.Int64N(60_000) // the catalog rounds to the minute
	if r.Float64() < 0.04+0.16*p {
		f.extendedMs = f.ms + int64(5+r.IntN(26))*60_000 + r.Int64N(60_000)
	}
	switch a := r.Float64(); {
	case f.year < 1955:
		f.aspect = 1.37
	case a < 0.55:
		f.aspect = 2.39
	case a < 0.93:
		f.aspect = 1.85
	default:
		f.aspect = 16.0 / 9
	}
	f.grain = logUniform(r, 0.8, 1.25)
	f.bluray = f.year >= 2006 || r.Float64() < 0.35+0.6*p
	f.uhd = f.bluray && r.Float64() < 0.03+0.75*p*p*p
	f.web = r.Float64() < 0.45+0.35*p+0.15*b2f(f.year >= 2003)
	f.web4 = f.web && r.Float64() < 0.6*p*p
	return f
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// releases lists every kind of file the model makes, with the share it has among
// the files of a film that has its source. The shares are rough figures for
// shared and home-ripped libraries: H.264 encodes dominate, HEVC is common, AV1,
// remuxes and TV recordings are rare.
var releases = []release{
	{"dvd-xvid", "dvd", 0.10, func(r *rand.Rand, f *film, e *Encode) {
		e.Container, e.VideoCodec = pick(r, "avi", "avi", "avi", "avi", "divx"), pick(r, "mpeg4", "xvid", "xvid")
		e.AudioCodec = pick(r, "mp3", "mp3", "mp3", "ac3")
		pal(r, e)
		f.picture(r, e, 640, 480, true)
		f.bitrate(r, e, 850, 1700)
	}},
	{"dvd-x264", "dvd", 0.12, func(r *rand.Rand, f *film, e *Encode) {
		e.Container, e.VideoCodec = pick(r, "mkv", "mkv", "mp4"), "h264"
		e.AudioCodec = pick(r, "ac3", "ac3", "aac", "aac", "dts")
		pal(r, e)
		f.picture(r, e, 720, 480, true)
		f.bitrate(r, e, 1200, 2600)
	}},
	{"dvd-remux", "dvd", 0.04, func(r *rand.Rand, f *film, e *Encode) {
		e.Container, e.VideoCodec = pick(r, "mkv", "mkv", "vob", "mpg"), "mpeg2video"
		e.AudioCodec = pick(r, "ac3", "ac3", "ac3", "ac3", "ac3", "ac3", "dts", "pcm_s16le")
		e.Width, e.Height = 720, 480
		if pal(r, e) {
			e.Height = 576
		}
		f.bitrate(r, e, 4000, 8000)
	}},
	{"bd-1080p-x264", "bluray", 0.30, func(r *rand.Rand, f *film, e *Encode) {
		e.Container, e.VideoCodec = pick(r, "mkv", "mkv", "mkv", "mkv", "mkv", "mkv", "mkv", "mkv", "mp4"), pick(r, "h264", "x264", "avc1")
		e.AudioCodec = pick(r, "dts", "dts", "dts", "dts", "ac3", "ac3", "ac3", "aac", "aac", "flac", "dts-hd ma")
		f.picture(r, e, 1920, 1080, true)
		f.bitrate(r, e, 6000, 14000)
	}},
	{"bd-720p-x264", "bluray", 0.18, func(r *rand.Rand, f *film, e *Encode) {
		e.Container, e.VideoCodec = pick(r, "mkv", "mkv", "mkv", "mp4"), "h264"
		e.AudioCodec = pick(r, "ac3", "ac3", "aac", "aac", "dts")
		f.picture(r, e, 1280, 720, true)
		f.bitrate(r, e, 2500, 6000)
	}},
	{"bd-1080p-x265", "bluray", 0.15, func(r *rand.Rand, f *film, e *Encode) {
		e.Container, e.VideoCodec = "mkv", pick(r, "hevc", "x265", "hevc")
		e.AudioCodec = pick(r, "aac", "aac", "aac", "eac3", "ac3", "ac3", "dts", "opus")
		f.picture(r, e, 1920, 1080, true)
		f.bitrate(r, e, 1800, 5000)
	}},
	{"bd-1080p-av1", "bluray", 0.03, func(r *rand.Rand, f *film, e *Encode) {
		e.Container, e.VideoCodec = pick(r, "mkv", "mkv", "mkv", "mp4", "webm"), "av1"
		e.AudioCodec = pick(r, "opus", "opus", "opus", "aac", "aac", "eac3")
		if e.Container == "webm" {
			e.AudioCodec = "opus"
		}
		f.picture(r, e, 1920, 1080, true)
		f.bitrate(r, e, 1500, 4000)
	}},
	{"bd-remux", "bluray", 0.07, func(r *rand.Rand, f *film, e *Encode) {
		e.Container = pick(r, "mkv", "mkv", "mkv", "mkv", "mkv", "m2ts")
		switch v := r.Float64(); {
		case v < 0.05:
			e.VideoCodec = "mpeg2video"
		case v < 0.25:
			e.VideoCodec = "vc1"
		default:
			e.VideoCodec = "h264"
		}
		e.AudioCodec = pick(r, "dts-hd ma", "dts-hd ma", "dts-hd ma", "dts-hd ma", "dts-hd ma", "truehd", "truehd", "truehd", "pcm_s24le", "dts")
		e.Width, e.Height = 1920, 1080
		f.bitrate(r, e, 18000, 35000)
	}},
	{"uhd-remux", "uhd", 0.10, func(r *rand.Rand, f *film, e *Encode) {
		e.Container, e.VideoCodec = pick(r, "mkv", "mkv", "mkv", "mkv", "mkv", "mkv", "mkv", "mkv", "mkv", "m2ts"), "hevc"
		e.AudioCodec = pick(r, "truehd", "truehd", "truehd", "truehd", "truehd", "truehd", "dts-hd ma", "dts-hd ma", "dts-hd ma", "eac3")
		e.Width, e.Height = 3840, 2160
		f.bitrate(r, e, 45000, 80000)
	}},
	{"uhd-x265", "uhd", 0.25, func(r *rand.Rand, f *film, e *Encode) {
		e.Container, e.VideoCodec = "mkv", pick(r, "hevc", "x265")
		e.AudioCodec = pick(r, "eac3", "eac3", "eac3", "truehd", "truehd", "dts", "aac", "aac", "ac3")
		f.picture(r, e, 3840, 2160, true)
		f.bitrate(r, e, 10000, 25000)
	}},
	{"uhd-av1", "uhd", 0.04, func(r *rand.Rand, f *film, e *Encode) {
		e.Container, e.VideoCodec = pick(r, "mkv", "mkv", "mp4", "webm"), "av1"
		e.AudioCodec = pick(r, "opus", "opus", "eac3", "aac")
		if e.Container == "webm" {
			e.AudioCodec = "opus"
		}
		f.picture(r, e, 3840, 2160, true)
		f.bitrate(r, e, 5000, 12000)
	}},
	{"web-1080p", "web", 0.25, func(r *rand.Rand, f *film, e *Encode) {
		e.Container = pick(r, "mkv", "mkv", "mkv", "mp4", "mp4")
		e.AudioCodec = pick(r, "eac3", "eac3", "eac3", "eac3", "aac", "aac", "aac", "ac3")
		f.picture(r, e, 1920, 1080, true)
		if r.IntN(6) == 0 {
			e.VideoCodec = "hevc"
			f.bitrate(r, e, 2500, 6000)
		} else {
			e.VideoCodec = "h264"
			f.bitrate(r, e, 4000, 10000)
		}
	}},
	{"web-720p", "web", 0.10, func(r *rand.Rand, f *film, e *Encode) {
		e.Container, e.VideoCodec = pick(r, "mp4", "mp4", "mp4", "mkv", "mkv"), "h264"
		e.AudioCodec = pick(r, "aac", "aac", "aac", "eac3", "eac3")
		f.picture(r, e, 1280, 720, true)
		f.bitrate(r, e, 2000, 5000)
	}},
	{"web-2160p", "web4", 0.15, func(r *rand.Rand, f *film, e *Encode) {
		if r.IntN(20) == 0 { // a VP9 stream in WebM
			e.Container, e.VideoCodec, e.AudioCodec = "webm", "vp9", "opus"
		} else {
			e.Container, e.VideoCodec = pick(r, "mkv", "mkv", "mkv", "mp4"), "hevc"
			e.AudioCodec = pick(r, "eac3", "eac3", "eac3", "eac3", "aac")
		}
		f.picture(r, e, 3840, 2160, true)
		f.bitrate(r, e, 12000, 25000)
	}},
	{"tv-recording", "tv", 0.03, func(r *rand.Rand, f *film, e *Encode) {
		e.Container = pick(r, "ts", "ts", "ts", "ts", "mkv")
		e.DurationMs += int64(2+r.IntN(14)) * 60_000 // the recording's padding
		lo, hi := 10000.0, 17000.0                   // MPEG-2 at 1080i
		switch r.IntN(5) {
		case 0, 1:
			e.Width, e.Height = 1920, 1080
		case 2, 3:
			e.Width, e.Height, lo, hi = 1280, 720, 6000, 12000
		default:
			e.Width, e.Height, lo, hi = 720, 576, 3000, 6000
		}
		if r.IntN(5) < 3 { // ATSC
			e.VideoCodec, e.AudioCodec = "mpeg2video", "ac3"
		} else { // DVB: H.264 needs about 60% of MPEG-2's bitrate
			e.VideoCodec, e.AudioCodec = "h264", pick(r, "aac", "aac", "ac3", "mp2")
			lo, hi = lo*0.6, hi*0.6
		}
		f.bitrate(r, e, lo, hi)
	}},
}

// has says whether the film has a release from source.
func (f *film) has(source string) bool {
	switch source {
	case "bluray":
		return f.bluray
	case "uhd":
		return f.uhd
	case "web":
		return f.web
	case "web4":
		return f.web4
	}
	return true // dvd, tv
}

// share is the weight of a release among the film's files: its share, for the
// XviD era scaled by the film's age (older films were ripped in it more often,
// and unpopular ones never got a better release).
func (f *film) share(rel release) float64 {
	if !f.has(rel.source) {
		return 0
	}
	w := rel.share
	if rel.name == "dvd-xvid" {
		switch {
		case f.year < 2000:
			w *= 2.5
		case f.year < 2005:
			w *= 1.5
		}
		w *= 1.5 - f.Popularity
	}
	return w
}

// picture sets the picture size of an encode of the given full frame: cropped to
// the film's aspect ratio, give or take a few lines, when crop is set (a DVD's
// anamorphic frame is stored at its full height otherwise).
func (f *film) picture(r *rand.Rand, e *Encode, w, h int64, crop bool) {
	e.Width, e.Height = w, h
	if !crop {
		return
	}
	full := float64(w) / float64(h)
	if w == 640 || w == 720 { // a DVD rip is resized to square pixels
		full = 4.0 / 3
	}
	if f.aspect < full { // pillarboxed: keep the height, crop the width
		e.Width = (int64(float64(h)*f.aspect) + r.Int64N(9) - 4) / 2 * 2
		return
	}
	e.Height = (int64(float64(w)/f.aspect) + r.Int64N(9) - 4) / 2 * 2
	if e.Height > h {
		e.Height = h
	}
}

// bitrate sets the overall bitrate (video from the release's range, scaled by the
// film's grain and the share of the frame the picture fills; audio from its
// codec's usual range) and the size that follows from it.
func (f *film) bitrate(r *rand.Rand, e *Encode, lo, hi float64) {
	area := 1.0
	if e.Width > 0 && e.Height > 0 {
		fullH := math.Max(float64(e.Height), float64(e.Width)*9/16)
		area = math.Sqrt(float64(e.Height) / fullH)
	}
	video := logUniform(r, lo, hi) * f.grain * area
	a := audioKbps[e.AudioCodec]
	audio := logUniform(r, a[0], a[1])
	e.BitrateKbps = int64(video + audio)
}

// audioKbps is the usual bitrate range of each audio codec, in kbit/s.
var audioKbps = map[string][2]float64{
	"mp3": {128, 192}, "mp2": {192, 256}, "aac": {128, 384}, "opus": {96, 256}, "ac3": {384, 640},
	"eac3": {640, 1024}, "dts": {768, 1509}, "dts-hd ma": {2000, 5000}, "truehd": {2500, 6000},
	"flac": {900, 2500}, "pcm_s16le": {1536, 1536}, "pcm_s24le": {4608, 6912},
}

// pal makes a third of DVD files PAL: 25 frames per second instead of 23.976, so
// the film runs 4% short. It reports whether it did.
func pal(r *rand.Rand, e *Encode) bool {
	if r.IntN(3) != 0 {
		return false
	}
	e.DurationMs = e.DurationMs * 24000 / 25025
	return true
}

func pick(r *rand.Rand, choices ...string) string { return choices[r.IntN(len(choices))] }

// logUniform draws from [lo, hi) evenly on a log scale, as encoder settings spread.
func logUniform(r *rand.Rand, lo, hi float64) float64 {
	return lo * math.Exp(r.Float64()*math.Log(hi/lo))
}

// Simulate makes perTitle files of every title, deterministically from seed: for
// each title a film (its releases, cuts, aspect ratio and grain), then its files,
// each from a release drawn by share among those the film has. Two files in five
// of a film with an extended cut are of that cut; releases of one cut differ in
// running time by a second or two, except PAL DVDs and TV recordings.
func Simulate(titles []Title, perTitle int, seed uint64) []Encode {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed_a0d1_7000_0000))
	out := make([]Encode, 0, len(titles)*perTitle)
	weights := make([]float64, len(releases))
	for i, t := range titles {
		f := newFilm(r, t)
		sum := 0.0
		for j, rel := range releases {
			weights[j] = f.share(rel)
			sum += weights[j]
		}
		for range perTitle {
			n := r.Float64() * sum
			j := 0
			for ; j < len(releases)-1; j++ {
				if n -= weights[j]; n < 0 {
					break
				}
			}
			rel := releases[j]
			e := Encode{Title: i, Minutes: t.Minutes, Release: rel.name, DurationMs: f.ms}
			if f.extendedMs > 0 && rel.source != "tv" && r.IntN(5) < 2 {
				e.DurationMs = f.extendedMs
			}
			e.DurationMs += r.Int64N(4001) - 2000 // releases differ by a second or two
			rel.make(r, f, &e)
			e.SizeBytes = int64(float64(e.BitrateKbps)*125*float64(e.DurationMs)/1000*(1.003+0.01*r.Float64())) + 16<<10
			if r.IntN(50) == 0 { // a client that sends its own library id
				e.CatalogID = "local:" + slug(t.Name) + "-" + strconv.Itoa(f.year)
			}
			out = append(out, e)
		}
	}
	return out
}

// slug is a title in lower case with runs of other characters turned into "-".
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
