package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/veiltelemetry/veil/internal/audit"
	"github.com/veiltelemetry/veil/internal/catalog"
	"github.com/veiltelemetry/veil/internal/privacy"
	"github.com/veiltelemetry/veil/schemas"
)

func loadFixture(t *testing.T, path string) audit.Catalog {
	t.Helper()
	c, err := audit.LoadCatalogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoadCatalog(t *testing.T) {
	c := loadFixture(t, "testdata/catalog.json")
	// Popularity ranks by votes; "#4" has no votes but a gross just above that of
	// Gods and Generals, whose votes it takes; 1776 has neither.
	want := []audit.Title{
		{Name: "Pirates of the Caribbean: The Curse of the Black Pearl", Minutes: 143, Year: 2003, Votes: 286356, Gross: 655011224, Popularity: 1},
		{Name: "1776", Minutes: 141, Year: 1972},
		{Name: "Finding Nemo", Minutes: 100, Year: 2003, Votes: 165006, Gross: 867894287, Popularity: 0.8},
		{Name: "#4", Minutes: 95, Gross: 20412216, Popularity: 0.2},
		{Name: "Gods and Generals", Minutes: 222, Year: 2003, Votes: 7437, Gross: 12923936, Popularity: 0.2},
		{Name: "Gone with the Wind", Minutes: 222, Year: 1939, Votes: 78947, Gross: 390525192, Popularity: 0.6},
	}
	if !reflect.DeepEqual(c.Titles, want) {
		t.Errorf("titles =\n%+v\nwant\n%+v", c.Titles, want)
	}
	if c.Skipped != 3 {
		t.Errorf("skipped %d entries, want 3 (null, zero and missing running time)", c.Skipped)
	}
}

func TestLoadCatalogRejects(t *testing.T) {
	want := map[string]string{
		"object-not-array.json":        "want a JSON array of objects",
		"array-of-strings.json":        "want a JSON array of objects",
		"truncated.json":               "want a JSON array of objects",
		"running-time-as-string.json":  `catalog entry 0: "Running Time min" is "100", not a number`,
		"votes-as-string.json":         `catalog entry 0: "IMDB Votes" is "many", not a number`,
		"release-date-not-a-date.json": `catalog entry 0: "Release Date" is "15/12/1995", not a date like "Jun 12 1998"`,
	}
	files, _ := filepath.Glob("testdata/bad/*.json")
	if len(files) != len(want) {
		t.Errorf("%d fixtures in testdata/bad, %d expected errors: keep them in step", len(files), len(want))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			w, ok := want[filepath.Base(path)]
			if !ok {
				t.Fatalf("no expected error for %s", path)
			}
			c, err := audit.LoadCatalogFile(path)
			if err == nil {
				t.Fatalf("accepted with %d titles; want an error containing %q", len(c.Titles), w)
			}
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		})
	}
}

func TestMeasureByHand(t *testing.T) {
	var titles []int
	var keys []string
	add := func(title int, cell string) { titles, keys = append(titles, title), append(keys, cell) }
	add(0, "x")
	add(0, "x")
	add(1, "x") // x: titles 0 and 1 (k=2), title 0 twice counts once
	add(2, "y") // y: title 2 alone (k=1)
	add(3, "z")
	add(3, "z")
	add(4, "z") // z: titles 3 and 4 (k=2)
	add(4, "w") // w: title 4 alone: title 4 is unique although its other file hides in z
	add(5, "v")
	add(5, "v") // v: two files of title 5 alone: still k=1
	for i := 6; i <= 9; i++ {
		add(i, "q") // q: k=4
	}
	// k per file, sorted: 1 1 1 1 2 2 2 2 2 2 4 4 4 4 (n=14).
	// Nearest rank: p10 is the 2nd value (1), median the 7th (2), p90 the 13th (4).
	st := audit.Measure("by hand", titles, keys)
	want := audit.Stats{
		Tuple: "by hand", Titles: 10, Encodes: 14, Cells: 6,
		UniqueTitles: 3, UniqueEncodes: 4, UniqueTitleShare: 0.3, UniqueEncodeShare: 4.0 / 14,
		KMin: 1, KP10: 1, KMedian: 2, KP90: 4,
		Rarest: []audit.Cell{
			{Tuple: "v", K: 1, Encodes: 2}, {Tuple: "w", K: 1, Encodes: 1}, {Tuple: "y", K: 1, Encodes: 1},
			{Tuple: "x", K: 2, Encodes: 3}, {Tuple: "z", K: 2, Encodes: 3}, {Tuple: "q", K: 4, Encodes: 4},
		},
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("Measure =\n%+v\nwant\n%+v", st, want)
	}
}

func TestMeasurePercentiles(t *testing.T) {
	// Ten cells of sizes 1..10, one file per title: the k of the files are
	// 1, 2, 2, 3, 3, 3, … (55 files). Nearest rank over 55: p10 is the 6th value,
	// the median the 28th, p90 the 50th.
	var titles []int
	var keys []string
	for size := 1; size <= 10; size++ {
		for range size {
			titles, keys = append(titles, len(titles)), append(keys, string(rune('a'+size)))
		}
	}
	st := audit.Measure("", titles, keys)
	if st.KMin != 1 || st.KP10 != 3 || st.KMedian != 7 || st.KP90 != 10 {
		t.Errorf("k min/p10/median/p90 = %d/%d/%d/%d, want 1/3/7/10", st.KMin, st.KP10, st.KMedian, st.KP90)
	}
	if st.UniqueTitles != 1 || st.UniqueEncodes != 1 || len(st.Rarest) != 10 {
		t.Errorf("stats = %+v, want one unique title and file, ten cells listed", st)
	}
}

// synthetic is a catalog of n films spread over running times, years and
// popularity like the real one.
func synthetic(n int) []audit.Title {
	titles := make([]audit.Title, n)
	for i := range titles {
		titles[i] = audit.Title{Name: "film", Minutes: 85 + i%70, Year: 1950 + i%61, Votes: 1 + i*7919%n}
	}
	audit.SetPopularity(titles)
	return titles
}

func TestSimulate(t *testing.T) {
	titles := synthetic(2000)
	a := audit.Simulate(titles, 2, 7)
	if len(a) != 4000 {
		t.Fatalf("%d files, want 4000", len(a))
	}
	if b := audit.Simulate(titles, 2, 7); !reflect.DeepEqual(a, b) {
		t.Errorf("the same seed gave different files")
	}
	if c := audit.Simulate(titles, 2, 8); reflect.DeepEqual(a, c) {
		t.Errorf("another seed gave the same files")
	}
	releases := map[string]int{}
	for _, e := range a {
		ti := titles[e.Title]
		releases[e.Release]++
		if e.Minutes != ti.Minutes {
			t.Errorf("file of title %d has %d minutes, want %d", e.Title, e.Minutes, ti.Minutes)
		}
		// Running time: the catalog's minutes give or take half a minute and two
		// seconds, 4% less on a PAL DVD, up to 31 minutes more for an extended cut
		// and 16 of padding on a TV recording.
		lo := (int64(ti.Minutes)*60_000 - 32_000) * 24000 / 25025
		hi := int64(ti.Minutes)*60_000 + 32_000 + 31*60_000 + 16*60_000
		if e.DurationMs < lo || e.DurationMs > hi {
			t.Errorf("%s of %d minutes: duration %d ms outside [%d, %d]", e.Release, ti.Minutes, e.DurationMs, lo, hi)
		}
		// Size follows bitrate and duration, with under 2% of container overhead.
		payload := float64(e.BitrateKbps) * 125 * float64(e.DurationMs) / 1000
		if r := float64(e.SizeBytes) / payload; r < 1 || r > 1.02 {
			t.Errorf("%s: size %d is %.3f times bitrate × duration", e.Release, e.SizeBytes, r)
		}
		if e.Height%2 != 0 || e.Width%2 != 0 || e.Height <= 0 || e.Height > 2160 || e.Width > 3840 {
			t.Errorf("%s: odd picture %dx%d", e.Release, e.Width, e.Height)
		}
		if e.Container == "" || e.VideoCodec == "" || e.AudioCodec == "" {
			t.Errorf("%s: empty format %q %q %q", e.Release, e.Container, e.VideoCodec, e.AudioCodec)
		}
	}
	for _, rel := range []string{"dvd-xvid", "dvd-x264", "dvd-remux", "bd-1080p-x264", "bd-720p-x264", "bd-1080p-x265", "bd-1080p-av1",
		"bd-remux", "uhd-remux", "uhd-x265", "uhd-av1", "web-1080p", "web-720p", "web-2160p", "tv-recording"} {
		if releases[rel] == 0 {
			t.Errorf("no %s among 4000 files (releases: %v)", rel, releases)
		}
	}
}

// The model ties formats to the film: recent and popular films have 4K and HEVC
// files, old and obscure ones mostly DVD rips.
func TestSimulateTiesFormatsToYearAndPopularity(t *testing.T) {
	var old, hit []audit.Title
	for i := range 1000 {
		old = append(old, audit.Title{Name: "old", Minutes: 90 + i%40, Year: 1980, Popularity: 0.05})
		hit = append(hit, audit.Title{Name: "hit", Minutes: 90 + i%40, Year: 2008, Popularity: 0.95})
	}
	share := func(titles []audit.Title, pred func(audit.Encode) bool) float64 {
		n := 0
		enc := audit.Simulate(titles, 1, 3)
		for _, e := range enc {
			if pred(e) {
				n++
			}
		}
		return float64(n) / float64(len(enc))
	}
	is4K := func(e audit.Encode) bool { return e.Width >= 3000 }
	isSD := func(e audit.Encode) bool { return e.Width <= 720 }
	isXviD := func(e audit.Encode) bool { return e.Release == "dvd-xvid" }
	if o, h := share(old, is4K), share(hit, is4K); o > 0.02 || h < 0.15 {
		t.Errorf("4K files: %.1f%% of old obscure films, %.1f%% of recent hits; want under 2%% and over 15%%", 100*o, 100*h)
	}
	if o, h := share(old, isSD), share(hit, isSD); o < 0.4 || h > 0.2 {
		t.Errorf("SD files: %.1f%% of old obscure films, %.1f%% of recent hits; want over 40%% and under 20%%", 100*o, 100*h)
	}
	if o, h := share(old, isXviD), share(hit, isXviD); o < 2*h {
		t.Errorf("XviD rips: %.1f%% of old obscure films, %.1f%% of recent hits; want the old at least twice as many", 100*o, 100*h)
	}
}

func TestNewTupleIsEveryKeptMediaField(t *testing.T) {
	reg := schemas.MustLoad()
	tup, err := audit.NewTuple(reg)
	if err != nil {
		t.Fatal(err)
	}
	raw := reg.Latest(schemas.Raw, audit.Kind)
	var inputs []string
	outs := map[string]bool{}
	for _, f := range raw.Fields {
		tr, err := privacy.ParseTreatment(f.Privacy)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := privacy.Outputs(tr, f.Name)
		if f.About == "media" && len(o) > 0 {
			inputs = append(inputs, f.Name)
			for _, n := range o {
				outs[n] = true
			}
		}
	}
	if !reflect.DeepEqual(tup.Inputs, inputs) {
		t.Errorf("inputs = %v, want %v", tup.Inputs, inputs)
	}
	if len(tup.Fields) != len(outs) {
		t.Errorf("fields = %v, want the outputs %v", tup.Fields, outs)
	}
	for _, f := range tup.Fields {
		if !outs[f] {
			t.Errorf("field %q is not written from a kept media field", f)
		}
	}
	// Today's tuple, spelled out so that a change shows in review.
	want := []string{"media_source", "media_type", "container", "video_codec", "audio_codec", "duration_bucket", "bitrate_bucket", "size_bucket", "resolution", "catalog_id"}
	if !reflect.DeepEqual(tup.Fields, want) {
		t.Errorf("fields = %v, want %v", tup.Fields, want)
	}
	for _, dropped := range []string{"file_path", "file_name", "library_name", "title"} {
		for _, in := range tup.Inputs {
			if in == dropped {
				t.Errorf("dropped field %q is in the tuple", dropped)
			}
		}
	}
}

// schemaFS is the embedded schemas with the playback schemas edited by edit.
func schemaFS(t *testing.T, edit func(stage, text string) string) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	src := os.DirFS("../../schemas")
	for _, stage := range []string{"raw", "clean"} {
		names, err := fs.Glob(src, stage+"/*.avsc")
		if err != nil || len(names) == 0 {
			t.Fatalf("schemas: %v", err)
		}
		for _, name := range names {
			data, err := fs.ReadFile(src, name)
			if err != nil {
				t.Fatal(err)
			}
			text := string(data)
			if strings.HasSuffix(name, "/playback.v1.avsc") {
				text = edit(stage, text)
			}
			m[name] = &fstest.MapFile{Data: []byte(text)}
		}
	}
	return m
}

// cleanField matches the line of a field in a clean schema file.
func cleanField(name string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^\s*\{"name": "` + name + `",.*\},?\n`)
}

// A media field the policy starts keeping fails the audit until the encode model
// makes a value for it.
func TestNewTupleRefusesAKeptMediaFieldTheModelCannotMake(t *testing.T) {
	fsys := schemaFS(t, func(stage, text string) string {
		field := `{"name": "frame_rate", "type": "int", "default": 0, "doc": "Frames per second."},`
		if stage == "raw" {
			field = `{"name": "frame_rate", "type": "int", "default": 0, "privacy": "keep", "about": "media", "example": 24, "doc": "Frames per second."},`
		}
		return strings.Replace(text, `"fields": [`, `"fields": [`+field, 1)
	})
	reg, err := schemas.LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	_, err = audit.NewTuple(reg)
	if err == nil || !strings.Contains(err.Error(), `media field "frame_rate"`) || !strings.Contains(err.Error(), "encode model") {
		t.Fatalf("NewTuple = %v, want an error naming frame_rate and the encode model", err)
	}
	if _, err := audit.Run(reg, audit.Catalog{Titles: synthetic(10)}, audit.Options{}); err == nil {
		t.Errorf("Run audited a policy it cannot measure")
	}
}

// A media field the policy drops leaves the tuple.
func TestNewTupleFollowsThePolicy(t *testing.T) {
	fsys := schemaFS(t, func(stage, text string) string {
		if stage == "raw" {
			return strings.Replace(text, `"name": "audio_codec", "type": "string", "default": "", "privacy": "keep", "domain": "audio_codec",`,
				`"name": "audio_codec", "type": "string", "default": "", "privacy": "drop",`, 1)
		}
		return cleanField("audio_codec").ReplaceAllString(text, "")
	})
	reg, err := schemas.LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	tup, err := audit.NewTuple(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(tup.Fields, tup.Inputs...) {
		if f == "audio_codec" {
			t.Fatalf("the dropped audio_codec is still in the tuple: %v from %v", tup.Fields, tup.Inputs)
		}
	}
	if len(tup.Fields) != 9 {
		t.Errorf("fields = %v, want the other nine", tup.Fields)
	}
}

// What the audit measures is what KindPolicy.Apply writes for the raw record of a
// file: the clean key of a file is its record's clean fields, and the raw key the
// values the device sent.
func TestTheCleanTupleIsWhatThePolicyWrites(t *testing.T) {
	reg := schemas.MustLoad()
	tup, err := audit.NewTuple(reg)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := privacy.New(reg, privacy.Deps{Pseudonyms: pseud{}, Geo: geo{}, Catalog: catalog.Demo()})
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := pol.For(reg.Latest(schemas.Raw, audit.Kind))
	files := audit.Simulate(synthetic(300), 2, 5)
	clean, raw, err := tup.Keys(files)
	if err != nil {
		t.Fatal(err)
	}
	ids := 0
	for i, e := range files {
		out, err := kp.Apply(e.Fields())
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, f := range tup.Fields {
			v := out[f].(string)
			if v == "" {
				v = "-"
			}
			want = append(want, v)
		}
		if clean[i] != strings.Join(want, ", ") {
			t.Errorf("clean key %q, want %q", clean[i], strings.Join(want, ", "))
		}
		if !strings.Contains(raw[i], e.VideoCodec) || !strings.Contains(raw[i], ", "+itoa(e.DurationMs)+", ") {
			t.Errorf("raw key %q lacks what the device sent (%s, %d ms)", raw[i], e.VideoCodec, e.DurationMs)
		}
		if e.CatalogID != "" {
			ids++
			if out["catalog_id"] != "" || !strings.Contains(raw[i], e.CatalogID) {
				t.Errorf("a local file's catalog id %q: clean %q, raw key %q", e.CatalogID, out["catalog_id"], raw[i])
			}
		}
	}
	if ids == 0 {
		t.Errorf("no file among %d carries a client's own catalog id", len(files))
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

type pseud struct{}

func (pseud) Pseudonym(_, v string) (string, error) { return "p", nil }

type geo struct{}

func (geo) Locate(string, string) (string, string) { return "", "" }

func TestRun(t *testing.T) {
	reg := schemas.MustLoad()
	if _, err := audit.Run(reg, audit.Catalog{}, audit.Options{}); err == nil {
		t.Error("an empty catalog was audited")
	}
	for _, o := range []audit.Options{{Seeds: -1}, {Several: 1}} {
		if _, err := audit.Run(reg, audit.Catalog{Titles: synthetic(10)}, o); err == nil {
			t.Errorf("Run(%+v) was accepted", o)
		}
	}
	// Six titles cannot hide each other: the targets must fail, and say why.
	r, err := audit.Run(reg, loadFixture(t, "testdata/catalog.json"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Pass || len(r.Failures) != 2 || !strings.Contains(r.Failures[0], "in 10 of 10 seeds") {
		t.Errorf("pass = %v, failures %q; want both targets missed in every seed", r.Pass, r.Failures)
	}
	if len(r.Seeds) != audit.DefaultSeeds || r.Seeds[0] != 1 || r.Targets != audit.DefaultTargets || len(r.Scenarios) != 2 ||
		r.Scenarios[0].FilesPerTitle != 1 || !r.Scenarios[0].Targeted || r.Scenarios[1].FilesPerTitle != audit.DefaultSeveral || r.Scenarios[1].Targeted {
		t.Errorf("defaults not applied: seeds %v, targets %+v, scenarios %d", r.Seeds, r.Targets, len(r.Scenarios))
	}
	for _, sc := range r.Scenarios {
		if len(sc.Runs) != audit.DefaultSeeds {
			t.Fatalf("%d runs, want one per seed", len(sc.Runs))
		}
		for _, run := range sc.Runs {
			if run.Clean.Encodes != 6*sc.FilesPerTitle || run.Raw.UniqueTitles != 6 {
				t.Errorf("seed %d: %+v", run.Seed, run)
			}
		}
	}
	// Many films of similar length, seen through the policy, hide each other;
	// raw, they are all unique.
	r, err = audit.Run(reg, audit.Catalog{Titles: synthetic(3000)}, audit.Options{Seeds: 3, FirstSeed: 5, Several: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Pass || r.Scenarios[0].Raw.UniqueTitleShare.Min != 1 || !reflect.DeepEqual(r.Seeds, []uint64{5, 6, 7}) {
		t.Errorf("pass = %v (%q), raw unique %+v, seeds %v; want a pass, every title raw-unique, seeds 5-7",
			r.Pass, r.Failures, r.Scenarios[0].Raw.UniqueTitleShare, r.Seeds)
	}
	sc := r.Scenarios[0]
	worst := sc.Worst()
	if worst.Seed != sc.WorstSeed || worst.Clean.UniqueTitleShare != sc.Clean.UniqueTitleShare.Max {
		t.Errorf("worst seed %d has %v unique, the spread says at most %v", worst.Seed, worst.Clean.UniqueTitleShare, sc.Clean.UniqueTitleShare.Max)
	}
	u := sc.Clean.UniqueTitleShare
	if !(u.Min <= u.Median && u.Median <= u.Max) {
		t.Errorf("spread %+v is out of order", u)
	}
}

func TestRunCommand(t *testing.T) {
	var out bytes.Buffer
	cfg := audit.Config{Catalog: "testdata/catalog.json", Seeds: 2, FirstSeed: 1, Several: 3, Format: "text"}
	err := audit.RunCommand(cfg, &out)
	if !errors.Is(err, audit.ErrTargetsMissed) {
		t.Errorf("err = %v, want ErrTargetsMissed", err)
	}
	for _, s := range []string{"6 titles with a running time (3 catalog entries without one skipped), seeds 1-2",
		"clean tuple (every clean field the policy writes from a raw field about the media): media_source, media_type, container",
		"== 1 file(s) per title (the targets apply)", "== 3 file(s) per title (for information)",
		"clean, min/median/max over 2 seeds", "worst seed", "exact minutes", "raw", "target: unique titles <= 1.00% in every seed: FAIL",
		"rarest clean tuples of seed"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, out.String())
		}
	}
	out.Reset()
	cfg.Format = "json"
	err = audit.RunCommand(cfg, &out)
	if !errors.Is(err, audit.ErrTargetsMissed) {
		t.Errorf("err = %v, want ErrTargetsMissed", err)
	}
	var r audit.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("JSON report does not parse: %v\n%s", err, out.String())
	}
	if r.CatalogTitles != 6 || len(r.Scenarios) != 2 || r.Scenarios[1].Runs[0].Clean.Encodes != 18 || r.Pass {
		t.Errorf("JSON report = %+v", r)
	}
	good := audit.Config{Catalog: "testdata/catalog.json", Seeds: 1, FirstSeed: 1, Several: 2, Format: "text"}
	for _, bad := range []func(*audit.Config){
		func(c *audit.Config) { c.Catalog = "" },
		func(c *audit.Config) { c.Seeds = 0 },
		func(c *audit.Config) { c.FirstSeed = 0 },
		func(c *audit.Config) { c.Several = 1 },
		func(c *audit.Config) { c.Format = "yaml" },
		func(c *audit.Config) { c.Catalog = "testdata/missing.json" },
	} {
		c := good
		bad(&c)
		if err := audit.RunCommand(c, &out); err == nil || errors.Is(err, audit.ErrTargetsMissed) {
			t.Errorf("RunCommand(%+v) = %v, want a configuration error", c, err)
		}
	}
}

// realCatalog is vega-datasets' movies.json, whose path scripts/test exports as
// VEIL_CATALOG (scripts/catalog installs it).
func realCatalog(t *testing.T) audit.Catalog {
	t.Helper()
	path := os.Getenv("VEIL_CATALOG")
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("VEIL_CATALOG is not set: the re-identification audit needs the film catalog; run scripts/test, which installs it")
		}
		t.Skip("VEIL_CATALOG not set: skipping the re-identification audit on the real catalog (scripts/catalog prints the path)")
	}
	c := loadFixture(t, path)
	if len(c.Titles) != 1209 {
		t.Fatalf("%s has %d titles with a running time; vega-datasets' movies.json has 1,209", path, len(c.Titles))
	}
	return c
}

func TestAuditRealCatalog(t *testing.T) {
	r, err := audit.Run(schemas.MustLoad(), realCatalog(t), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", text.String())
	for _, sc := range r.Scenarios {
		// The audit can see risk: raw values name every title, and exact minutes
		// alone name about 2% of them.
		if sc.Raw.UniqueTitleShare.Min < 0.99 {
			t.Errorf("%d files per title: only %.1f%% of titles are unique by their raw fields in some seed; the audit should find nearly all",
				sc.FilesPerTitle, 100*sc.Raw.UniqueTitleShare.Min)
		}
		if m := sc.Minutes.UniqueTitleShare.Max; m < 0.01 || m > 0.03 {
			t.Errorf("%.2f%% of titles are unique by exact minutes; the catalog has about 2%%", 100*m)
		}
	}
	// The promise, in every seed, with one file per title.
	one := r.Scenarios[0]
	if u := one.Clean.UniqueTitleShare.Max; u > 0.01 {
		t.Errorf("%.2f%% of titles are unique under the clean tuple in the worst seed; the target is at most 1%%", 100*u)
	}
	if k := one.Clean.KMedian.Min; k < 20 {
		t.Errorf("the median k is %d under the clean tuple in the worst seed; the target is at least 20", k)
	}
	if want := one.Clean.UniqueTitleShare.Max <= 0.01 && one.Clean.KMedian.Min >= 20; r.Pass != want {
		t.Errorf("Report.Pass = %v disagrees with the figures", r.Pass)
	}
}

var update = flag.Bool("update", false, "re-measure result.json (needs VEIL_CATALOG)")
