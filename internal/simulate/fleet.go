package simulate

import (
	"bufio"
	crand "crypto/rand"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/veiltelemetry/veil/internal/catalog"
	"github.com/veiltelemetry/veil/schemas"
)

// Config of a simulated fleet.
type Config struct {
	Installations int       // default 2000
	Seed          uint64    // default 1
	Canary        bool      // identifying fields carry unique canary strings
	Start         time.Time // event times spread over the hour before Start; default now
	// Catalog is the service catalog the hosted ids and campaigns are drawn
	// from, the one the enricher checks them against; default catalog.Demo().
	Catalog *catalog.Catalog
}

// CanaryPrefix starts every canary string.
const CanaryPrefix = "CANARY"

type item struct {
	mediaType, container, vcodec, acodec string
	title, path, fileName, library       string
	durationMs, sizeBytes                int64
	bitrateKbps, width, height           int32
}

type installation struct {
	id, ip, zip, deviceName string
	accounts                []string
	device                  deviceProfile
	items                   []item
}

type deviceProfile struct {
	deviceType, platform, player string
	weight                       int
}

var devices = []deviceProfile{
	{"tv", "webos", "Veil for LG", 10}, {"tv", "tizen", "Veil for Samsung", 10}, {"tv", "android", "Veil for Android TV", 12},
	{"streaming_stick", "roku", "Veil for Roku", 14}, {"streaming_stick", "tvos", "Veil for Apple TV", 8},
	{"streaming_stick", "android", "Veil for Fire TV", 9}, {"console", "xbox", "Veil for Xbox", 3},
	{"console", "playstation", "Veil for PlayStation", 3}, {"mobile", "ios", "Veil for iOS", 10},
	{"mobile", "android", "Veil for Android", 10}, {"tablet", "ios", "Veil for iPadOS", 4},
	{"desktop", "windows", "Veil Desktop", 3}, {"desktop", "macos", "Veil Desktop", 2}, {"web", "web", "Veil Web", 5},
	{"smart_speaker", "linux", "Veil Audio", 1}, {"car", "android", "Veil Auto", 1},
}

var appVersions = []string{"1.40.2", "1.41.0", "1.41.3", "1.42.0", "1.42.1"}

var adjectives = []string{"Silent", "Last", "Crimson", "Hidden", "Broken", "Golden", "Northern", "Electric", "Lonely", "Distant", "Burning", "Frozen", "Wild", "Secret", "Long", "Dark", "Bright", "Lost", "Iron", "Paper"}
var nouns = []string{"Harbor", "Summer", "Empire", "River", "Machine", "Garden", "Frontier", "Signal", "Kingdom", "Letter", "Horizon", "Station", "Mountain", "Promise", "Orchard", "Voyage", "Witness", "Engine", "Shore", "Crown"}
var firstNames = []string{"Dana", "Sam", "Alex", "Robin", "Kim", "Jordan", "Taylor", "Morgan", "Chris", "Jamie"}
var zips = []string{"10027", "94110", "60614", "73301", "98109", "02139", "30309", "80205", "33139", "48201", "55408", "19104", "85004", "97214", "20009", "63110", "70116", "84101", "96813", "99501"}

// Fleet generates events; it is not safe for concurrent use (give each goroutine its own).
type Fleet struct {
	cfg       Config
	rng       *rand.Rand
	ids       io.Reader // random bytes of event ids, read from crypto/rand 4 KiB at a time
	inst      []installation
	wsum      int
	seq       uint64
	canary    uint64
	layouts   *layouts
	events    map[string]*event   // by kind: the record NextFlat fills
	hostedIDs map[string][]string // catalog ids by hosted type
	campaigns []string
}

// rawLayouts are the field positions of the raw schemas built into the binary.
var rawLayouts = func() *layouts {
	l, err := newLayouts(schemas.MustLoad())
	if err != nil {
		panic(err) // the fleet's code and the embedded schemas disagree: fleet_test fails first
	}
	return l
}()

// NewFleet builds the installations of cfg.
func NewFleet(cfg Config) *Fleet {
	if cfg.Installations <= 0 {
		cfg.Installations = 2000
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	f := &Fleet{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		ids: bufio.NewReaderSize(crand.Reader, 4096), layouts: rawLayouts, events: map[string]*event{}}
	for kind, s := range f.layouts.raw {
		f.events[kind] = &event{s: s, v: make([]schemas.Value, len(s.Fields))}
	}
	cat := cfg.Catalog
	if cat == nil {
		cat = catalog.Demo()
	}
	f.hostedIDs = map[string][]string{}
	for _, it := range cat.Items(catalog.Hosted) {
		f.hostedIDs[it.Type] = append(f.hostedIDs[it.Type], it.ID)
	}
	for _, it := range cat.Items(catalog.Campaign) {
		f.campaigns = append(f.campaigns, it.ID)
	}
	for _, d := range devices {
		f.wsum += d.weight
	}
	f.inst = make([]installation, cfg.Installations)
	for i := range f.inst {
		f.inst[i] = f.newInstallation(i)
	}
	return f
}

func (f *Fleet) pick(list []string) string { return list[f.rng.IntN(len(list))] }

func (f *Fleet) newInstallation(i int) installation {
	r := f.rng
	in := installation{
		id:         fmt.Sprintf("srv-%08x%04x", r.Uint32(), i),
		ip:         fmt.Sprintf("%d.%d.%d.%d", []int{24, 31, 46, 62, 73, 81, 86, 92, 109, 151, 176, 185}[r.IntN(12)], r.IntN(256), r.IntN(256), 1+r.IntN(254)),
		deviceName: fmt.Sprintf("%s's %s", f.pick(firstNames), []string{"Living Room TV", "Bedroom TV", "iPhone", "Laptop", "Shield"}[r.IntN(5)]),
	}
	if r.IntN(10) < 6 { // a US household: zip code and a US address block
		in.zip = f.pick(zips)
		in.ip = fmt.Sprintf("%d.%d.%d.%d", []int{24, 73}[r.IntN(2)], r.IntN(256), r.IntN(256), 1+r.IntN(254))
	}
	for a := 0; a < 1+r.IntN(3); a++ {
		in.accounts = append(in.accounts, fmt.Sprintf("acct-%d", r.Uint32()))
	}
	w := r.IntN(f.wsum)
	for _, d := range devices {
		if w -= d.weight; w < 0 {
			in.device = d
			break
		}
	}
	owner := f.pick(firstNames)
	for n := 0; n < 20+r.IntN(30); n++ {
		in.items = append(in.items, f.newItem(owner))
	}
	return in
}

// newItem makes a file of a local library with consistent encode parameters.
func (f *Fleet) newItem(owner string) item {
	r := f.rng
	title := f.pick(adjectives) + " " + f.pick(nouns)
	year := 1950 + r.IntN(75)
	switch p := r.IntN(100); {
	case p < 70: // video: films and episodes
		res := []struct {
			w, h int32
			kbps float64
			name string
		}{{720, 480, 1500, "480p"}, {1280, 720, 4000, "720p"}, {1920, 1080, 10000, "1080p"}, {1920, 800, 9000, "1080p"}, {3840, 2160, 40000, "2160p"}, {3840, 1606, 30000, "2160p"}}[r.IntN(6)]
		vcodec := []string{"h264", "hevc", "av1", "mpeg2video"}[r.IntN(4)]
		kbps := res.kbps * (0.5 + r.Float64())
		if vcodec == "hevc" || vcodec == "av1" {
			kbps *= 0.6
		}
		var dur int64
		var lib, path string
		if r.IntN(3) == 0 { // an episode
			dur = int64(20+r.IntN(45))*60_000 + r.Int64N(60_000)
			lib = []string{"TV Shows", "Kids TV", owner + "'s Shows"}[r.IntN(3)]
			s, e := 1+r.IntN(8), 1+r.IntN(22)
			name := fmt.Sprintf("%s - S%02dE%02d - %s %s.%s", title, s, e, f.pick(adjectives), f.pick(nouns), "mkv")
			path = fmt.Sprintf("/srv/media/%s/%s/Season %d/%s", lib, title, s, name)
		} else {
			dur = int64(80+r.IntN(100))*60_000 + r.Int64N(60_000)
			lib = []string{"Movies", owner + "'s Movies", "4K Movies", "Classics"}[r.IntN(4)]
			name := fmt.Sprintf("%s (%d) %s.mkv", title, year, res.name)
			path = fmt.Sprintf("/srv/media/%s/%s (%d)/%s", lib, title, year, name)
		}
		return item{mediaType: "video", container: []string{"mkv", "mp4", "avi", "m2ts"}[r.IntN(4)], vcodec: vcodec,
			acodec: []string{"aac", "ac3", "eac3", "dts", "truehd"}[r.IntN(5)], title: title, path: path, fileName: baseName(path), library: lib,
			durationMs: dur, bitrateKbps: int32(kbps), width: res.w, height: res.h, sizeBytes: int64(kbps * 125 * float64(dur) / 1000)}
	case p < 95: // music
		codec := []string{"flac", "mp3", "aac", "alac", "opus"}[r.IntN(5)]
		kbps := map[string]float64{"flac": 900, "mp3": 256, "aac": 192, "alac": 1000, "opus": 128}[codec] * (0.8 + 0.4*r.Float64())
		dur := int64(90+r.IntN(360))*1000 + r.Int64N(1000)
		artist := f.pick(adjectives) + " " + f.pick(nouns) + "s"
		path := fmt.Sprintf("/home/%s/Music/%s/%s (%d)/%02d %s.%s", owner, artist, title, year, 1+r.IntN(14), f.pick(nouns), codec)
		return item{mediaType: "music", container: map[string]string{"flac": "flac", "mp3": "mp3", "aac": "m4a", "alac": "m4a", "opus": "ogg"}[codec], acodec: codec,
			title: title, path: path, fileName: baseName(path), library: "Music", durationMs: dur, bitrateKbps: int32(kbps), sizeBytes: int64(kbps * 125 * float64(dur) / 1000)}
	default: // photos
		w, h := []int32{4032, 6000, 3024, 8192}[r.IntN(4)], []int32{3024, 4000, 4032, 5464}[r.IntN(4)]
		path := fmt.Sprintf("/home/%s/Pictures/%d/IMG_%04d.jpg", owner, 2010+r.IntN(16), r.IntN(10000))
		return item{mediaType: "photo", container: "jpeg", title: baseName(path), path: path, fileName: baseName(path), library: "Photos",
			width: w, height: h, sizeBytes: int64(w) * int64(h) * int64(2+r.IntN(3)) / 8}
	}
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// hostedItem is content the service itself serves, tracked by catalog id: an id
// drawn from the service catalog, with its type (trailer, live_tv, dvr, ad).
// A catalog without items of a type gives that type no id.
func (f *Fleet) hostedItem() (it item, id, typ string) {
	r := f.rng
	switch r.IntN(4) {
	case 0:
		typ, it = "trailer", item{mediaType: "video", container: "mp4", vcodec: "h264", acodec: "aac", title: "Trailer", durationMs: int64(90+r.IntN(90)) * 1000, bitrateKbps: 6000, width: 1920, height: 1080, sizeBytes: 100 << 20}
	case 1:
		typ, it = "live_tv", item{mediaType: "video", container: "mpegts", vcodec: "h264", acodec: "aac", title: "Live TV", durationMs: 3_600_000, bitrateKbps: 8000, width: 1920, height: 1080, sizeBytes: 3600 * 1000 * 1000}
	case 2:
		typ, it = "dvr", item{mediaType: "video", container: "mpegts", vcodec: "mpeg2video", acodec: "ac3", title: "DVR", durationMs: int64(30+r.IntN(90)) * 60_000, bitrateKbps: 12000, width: 1920, height: 1080, sizeBytes: 4 << 30}
	default:
		typ, it = "ad", item{mediaType: "video", container: "mp4", vcodec: "h264", acodec: "aac", title: "Ad", durationMs: int64(15+15*r.IntN(3)) * 1000, bitrateKbps: 4000, width: 1280, height: 720, sizeBytes: 20 << 20}
	}
	if ids := f.hostedIDs[typ]; len(ids) > 0 {
		id = ids[r.IntN(len(ids))]
	}
	return it, id, typ
}

// Next returns the next raw event and its kind, in goavro's native form for the
// newest raw schema of that kind (see NextFlat).
func (f *Fleet) Next() (kind string, rec map[string]any, err error) {
	kind, s, flat, err := f.NextFlat()
	if err != nil {
		return kind, nil, err
	}
	return kind, s.FromFlat(flat), nil
}

// NextFlat returns the next raw event as a flat record of s, the newest raw
// schema of its kind; the record is valid until the next call. Most events are
// playback; the rest are hosted content and ad interactions, marketing, crash
// reports, integration use and update checks. It fails only if the fleet's
// code and the schemas disagree on an enum symbol.
func (f *Fleet) NextFlat() (kind string, s *schemas.Schema, rec []schemas.Value, err error) {
	p := f.rng.IntN(100)
	in := f.installation()
	var fill func(*installation, *event)
	switch {
	case p < 85:
		kind, fill = "playback", f.playback
	case p < 90:
		kind, fill = "hosted", f.hosted
	case p < 94:
		kind, fill = "marketing", f.marketing
	case p < 96:
		kind, fill = "crash", f.crash
	case p < 98:
		kind, fill = "integration", f.integration
	default:
		kind, fill = "serverinfo", f.serverinfo
	}
	e := f.events[kind]
	clear(e.v)
	fill(in, e)
	if e.err != nil {
		return kind, e.s, nil, e.err
	}
	if f.cfg.Canary {
		f.applyCanaries(kind, e)
	}
	return kind, e.s, e.v, nil
}

// installation picks who sends the next event: a few heavy users, a long tail.
func (f *Fleet) installation() *installation {
	return &f.inst[int(math.Floor(math.Pow(f.rng.Float64(), 2)*float64(len(f.inst))))]
}

// eventTime is when an event happened: within the hour before the fleet's start.
func (f *Fleet) eventTime() time.Time {
	return f.cfg.Start.Add(-time.Duration(f.rng.Int64N(int64(time.Hour))))
}

// eventID is a random UUID. Ids come from crypto/rand, not the seeded
// generator: the same seed run twice must not repeat ids, or the sink would
// take the second run's events for copies of the first's.
func (f *Fleet) eventID() string {
	id, err := uuid.NewRandomFromReader(f.ids)
	if err != nil { // crypto/rand does not fail on Linux; fall back to the package's own reader
		id = uuid.New()
	}
	return id.String()
}

// head fills the fields every kind has.
func (f *Fleet) head(e *event, c *common, in *installation) {
	e.str(c.EventID, f.eventID())
	e.time(c.EventTime, f.eventTime())
	e.str(c.InstallationID, in.id)
	e.str(c.ClientIP, in.ip)
}

func (f *Fleet) account(in *installation) string {
	if f.rng.IntN(5) == 0 {
		return ""
	}
	return in.accounts[f.rng.IntN(len(in.accounts))]
}

func (f *Fleet) playback(in *installation, e *event) {
	r, l := f.rng, &f.layouts.playback
	f.seq++
	var it item
	source, catalog := "local", ""
	if r.IntN(100) < 12 {
		it, catalog, _ = f.hostedItem()
		source = "hosted"
	} else {
		it = in.items[r.IntN(len(in.items))]
	}
	ev := []string{"start", "progress", "progress", "stop"}[r.IntN(4)]
	var played int64
	if ev != "start" && it.durationMs > 0 {
		played = r.Int64N(it.durationMs + 1)
	}
	decision := "direct_play"
	if p := r.IntN(10); p == 0 {
		decision = "transcode"
	} else if p < 3 {
		decision = "direct_stream"
	}
	f.head(e, &l.common, in)
	e.str(l.AccountID, f.account(in))
	e.str(l.ZipCode, in.zip)
	e.enum(l.DeviceType, in.device.deviceType)
	e.str(l.Platform, in.device.platform)
	e.str(l.Player, in.device.player)
	e.str(l.PlayerName, in.deviceName)
	e.str(l.AppVersion, appVersions[r.IntN(len(appVersions))])
	e.enum(l.MediaSource, source)
	e.enum(l.MediaType, it.mediaType)
	e.str(l.Container, it.container)
	e.str(l.VideoCodec, it.vcodec)
	e.str(l.AudioCodec, it.acodec)
	e.num(l.DurationMs, it.durationMs)
	e.num(l.BitrateKbps, int64(it.bitrateKbps))
	e.num(l.SizeBytes, it.sizeBytes)
	e.num(l.Width, int64(it.width))
	e.num(l.Height, int64(it.height))
	if source != "hosted" { // hosted content has no file on the server
		e.str(l.FilePath, it.path)
		e.str(l.FileName, it.fileName)
		e.str(l.LibraryName, it.library)
	}
	e.str(l.Title, it.title)
	e.str(l.CatalogID, catalog)
	e.enum(l.PlaybackEvent, ev)
	e.num(l.PlayedMs, played)
	e.enum(l.Decision, decision)
}

func (f *Fleet) hosted(in *installation, e *event) {
	r, l := f.rng, &f.layouts.hosted
	_, catalog, ct := f.hostedItem()
	pos := "none"
	if ct == "ad" {
		pos = []string{"pre_roll", "mid_roll", "post_roll"}[r.IntN(3)]
	}
	f.head(e, &l.common, in)
	e.str(l.AccountID, f.account(in))
	e.str(l.ZipCode, in.zip)
	e.enum(l.DeviceType, in.device.deviceType)
	e.str(l.Platform, in.device.platform)
	e.str(l.AppVersion, f.pick(appVersions))
	e.enum(l.ContentType, ct)
	e.str(l.CatalogID, catalog)
	e.enum(l.Action, []string{"impression", "start", "complete", "skip", "click"}[r.IntN(5)])
	e.enum(l.AdPosition, pos)
}

func (f *Fleet) marketing(in *installation, e *event) {
	r, l := f.rng, &f.layouts.marketing
	acct := in.accounts[r.IntN(len(in.accounts))]
	f.head(e, &l.common, in)
	e.str(l.AccountID, acct)
	e.str(l.Email, strings.ToLower(f.pick(firstNames))+"."+acct+"@example.org")
	campaign := ""
	if len(f.campaigns) > 0 {
		campaign = f.campaigns[r.IntN(len(f.campaigns))]
	}
	e.str(l.CampaignID, campaign)
	e.enum(l.Channel, []string{"email", "in_app", "push"}[r.IntN(3)])
	e.enum(l.Action, []string{"delivered", "opened", "clicked", "dismissed", "unsubscribed"}[r.IntN(5)])
	e.str(l.AppVersion, f.pick(appVersions))
}

func (f *Fleet) crash(in *installation, e *event) {
	r, l := f.rng, &f.layouts.crash
	it := in.items[r.IntN(len(in.items))]
	comp := []string{"player", "transcoder", "scanner", "ui", "network"}[r.IntN(5)]
	f.head(e, &l.common, in)
	e.enum(l.DeviceType, in.device.deviceType)
	e.str(l.Platform, in.device.platform)
	e.str(l.AppVersion, f.pick(appVersions))
	e.str(l.Component, comp)
	e.str(l.ExceptionType, []string{"SIGSEGV", "SIGABRT", "NullPointerException", "OutOfMemoryError"}[r.IntN(4)])
	e.str(l.StackHash, fmt.Sprintf("%08x", r.Uint32()%64))
	e.str(l.FilePath, it.path)
	e.str(l.StackTrace, "at "+comp+".open("+it.path+")\nat main.run()")
	e.str(l.LogExcerpt, "opening "+it.fileName+" from "+it.library)
}

func (f *Fleet) integration(in *installation, e *event) {
	r, l := f.rng, &f.layouts.integration
	name := []string{"sonos", "alexa", "google_assistant", "webhook", "lastfm", "trakt"}[r.IntN(6)]
	hook := ""
	if name == "webhook" {
		hook = fmt.Sprintf("https://hooks.example.org/%s/%d", in.id, r.IntN(100))
	}
	f.head(e, &l.common, in)
	e.enum(l.Integration, name)
	e.enum(l.Action, []string{"enabled", "used", "used", "used", "disabled"}[r.IntN(5)])
	e.flag(l.UserEnabled, true)
	e.str(l.RemoteAccount, strings.ToLower(f.pick(firstNames))+"_"+in.id[4:10])
	e.str(l.WebhookURL, hook)
	e.str(l.AppVersion, f.pick(appVersions))
}

func (f *Fleet) serverinfo(in *installation, e *event) {
	r, l := f.rng, &f.layouts.serverinfo
	f.head(e, &l.common, in)
	e.str(l.Platform, []string{"linux", "windows", "macos", "freebsd"}[r.IntN(4)])
	e.str(l.AppVersion, f.pick(appVersions))
	e.str(l.OSVersion, []string{"debian-12", "ubuntu-24.04", "windows-11", "macos-15", "synology-dsm-7"}[r.IntN(5)])
	e.enum(l.UpdateChannel, []string{"stable", "stable", "stable", "beta"}[r.IntN(4)])
	e.str(l.CPUArch, []string{"x86_64", "arm64"}[r.IntN(2)])
	e.str(l.TranscoderHW, []string{"none", "qsv", "nvenc", "vaapi", "videotoolbox"}[r.IntN(5)])
	e.str(l.ServerName, in.deviceName+" server")
}

// CanaryFields returns, per event kind, the raw string fields that carry canaries
// in canary mode: every field whose annotation says it must not leave the
// enricher as sent (drop, pseudonymize, geo). It is read from the schemas, so a
// field newly annotated so is covered by the leak tests without anyone listing it.
func CanaryFields() map[string][]string {
	out := map[string][]string{}
	for _, s := range schemas.MustLoad().All() {
		if s.Stage != schemas.Raw {
			continue
		}
		for i, fl := range s.Fields {
			t := fl.Privacy
			if s.Type(i) == schemas.TString && (t == "drop" || t == "pseudonymize" || strings.HasPrefix(t, "geo:")) {
				out[s.Kind] = append(out[s.Kind], fl.Name)
			}
		}
	}
	return out
}

func (f *Fleet) applyCanaries(kind string, e *event) {
	f.canary++
	n := strconv.FormatUint(f.canary, 36)
	for _, name := range canaryFields[kind] {
		if i := e.s.Index(name); i >= 0 {
			e.str(i, CanaryPrefix+"-"+name+"-"+strconv.FormatUint(f.cfg.Seed, 36)+"-"+n)
		}
	}
}

var canaryFields = CanaryFields()
