package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/veiltelemetry/veil/internal/audit"
	"github.com/veiltelemetry/veil/internal/privacy"
)

// This package has no golden files; it accepts -update so that the project-wide
// go test ./... -update runs.
var _ = flag.Bool("update", false, "no effect in this package")

func loadFixture(t *testing.T, path string) audit.Catalog {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := audit.LoadCatalog(f)
	if err != nil {
		t.Fatalf("LoadCatalog(%s): %v", path, err)
	}
	return c
}

func TestLoadCatalog(t *testing.T) {
	c := loadFixture(t, "testdata/catalog.json")
	want := []audit.Title{
		{Name: "Pirates of the Caribbean: The Curse of the Black Pearl", Minutes: 143},
		{Name: "1776", Minutes: 141},
		{Name: "Finding Nemo", Minutes: 100},
		{Name: "#4", Minutes: 95},
		{Name: "Gods and Generals", Minutes: 222},
	}
	if !reflect.DeepEqual(c.Titles, want) {
		t.Errorf("titles = %+v\nwant %+v", c.Titles, want)
	}
	if c.Skipped != 3 {
		t.Errorf("skipped %d entries, want 3 (null, zero and missing running time)", c.Skipped)
	}
}

func TestLoadCatalogRejects(t *testing.T) {
	want := map[string]string{
		"object-not-array.json":       "want a JSON array of objects",
		"array-of-strings.json":       "want a JSON array of objects",
		"truncated.json":              "want a JSON array of objects",
		"running-time-as-string.json": `catalog entry 0: "Running Time min" is "100", not a number`,
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
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			c, err := audit.LoadCatalog(f)
			if err == nil {
				t.Fatalf("accepted with %d titles; want an error containing %q", len(c.Titles), w)
			}
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		})
	}
}

// byLabel is a tuple that is just the label stored in an encode's video codec,
// so that cells can be laid out by hand.
func byLabel(e audit.Encode) string { return e.VideoCodec }

func TestMeasureByHand(t *testing.T) {
	enc := func(title int, cell string) audit.Encode { return audit.Encode{Title: title, VideoCodec: cell} }
	encodes := []audit.Encode{
		enc(0, "x"), enc(0, "x"), enc(1, "x"), // x: titles 0 and 1 (k=2), title 0 twice counts once
		enc(2, "y"),                           // y: title 2 alone (k=1)
		enc(3, "z"), enc(3, "z"), enc(4, "z"), // z: titles 3 and 4 (k=2)
		enc(4, "w"),              // w: title 4 alone: title 4 is unique although its other file hides in z
		enc(5, "v"), enc(5, "v"), // v: two files of title 5 alone: still k=1
		enc(6, "q"), enc(7, "q"), enc(8, "q"), enc(9, "q"), // q: k=4
	}
	// k per encode, sorted: 1 1 1 1 2 2 2 2 2 2 4 4 4 4 (n=14).
	// Nearest rank: p10 is the 2nd value (1), median the 7th (2), p90 the 13th (4).
	st := audit.Measure("by hand", encodes, byLabel)
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
	// Ten cells of sizes 1..10, one encode per title: the k of the encodes are
	// 1, 2, 2, 3, 3, 3, … (55 encodes). Nearest rank over 55: p10 is the 6th value,
	// the median the 28th, p90 the 50th.
	var encodes []audit.Encode
	title := 0
	for size := 1; size <= 10; size++ {
		for range size {
			encodes = append(encodes, audit.Encode{Title: title, VideoCodec: string(rune('a' + size))})
			title++
		}
	}
	st := audit.Measure("", encodes, byLabel)
	if st.KMin != 1 || st.KP10 != 3 || st.KMedian != 7 || st.KP90 != 10 {
		t.Errorf("k min/p10/median/p90 = %d/%d/%d/%d, want 1/3/7/10", st.KMin, st.KP10, st.KMedian, st.KP90)
	}
	if st.UniqueTitles != 1 || st.UniqueEncodes != 1 || len(st.Rarest) != 10 {
		t.Errorf("stats = %+v, want one unique title and encode, ten cells listed", st)
	}
}

func TestTuples(t *testing.T) {
	e := audit.Encode{Title: 0, Minutes: 100, DurationMs: 100*60_000 + 30_000, BitrateKbps: 8500, SizeBytes: 6_500_000_000, Width: 1920, Height: 800, VideoCodec: "hevc"}
	// The generalized tuple is the privacy policy's own buckets, each fed the right
	// field (the labels themselves belong to package privacy and may be retuned).
	gen := privacy.DurationBucket("video", e.DurationMs) + ", " + privacy.BitrateBucket("video", e.BitrateKbps) + ", " +
		privacy.SizeBucket("video", e.SizeBytes) + ", " + privacy.Resolution("video", e.Width, e.Height)
	if got := audit.GeneralizedTuple(e); got != gen {
		t.Errorf("GeneralizedTuple = %q, want %q", got, gen)
	}
	if got, want := audit.GeneralizedCodecTuple(e), gen+", hevc"; got != want {
		t.Errorf("GeneralizedCodecTuple = %q, want %q", got, want)
	}
	if got, want := audit.MinutesTuple(e), "100 min"; got != want {
		t.Errorf("MinutesTuple = %q, want %q", got, want)
	}
	f := e
	f.DurationMs++
	if audit.RawTuple(e) == audit.RawTuple(f) {
		t.Errorf("RawTuple does not tell apart encodes one millisecond apart: %q", audit.RawTuple(e))
	}
	if audit.GeneralizedTuple(e) != audit.GeneralizedTuple(f) {
		t.Errorf("GeneralizedTuple tells apart encodes one millisecond apart")
	}
}

func TestSimulate(t *testing.T) {
	titles := []audit.Title{{"Short", 46}, {"Long", 222}, {"Usual", 101}}
	a := audit.Simulate(titles, 50, 7)
	if len(a) != 150 {
		t.Fatalf("%d encodes, want 150", len(a))
	}
	if b := audit.Simulate(titles, 50, 7); !reflect.DeepEqual(a, b) {
		t.Errorf("the same seed gave different encodes")
	}
	if c := audit.Simulate(titles, 50, 8); reflect.DeepEqual(a, c) {
		t.Errorf("another seed gave the same encodes")
	}
	codecs, classes := map[string]int{}, map[string]int{}
	for _, e := range a {
		ti := titles[e.Title]
		if e.Minutes != ti.Minutes {
			t.Errorf("encode of %s has %d minutes, want %d", ti.Name, e.Minutes, ti.Minutes)
		}
		lo, hi := int64(ti.Minutes)*60_000-2000, int64(ti.Minutes+1)*60_000+2000
		if e.DurationMs < lo || e.DurationMs > hi {
			t.Errorf("%s: duration %d ms outside [%d, %d]", ti.Name, e.DurationMs, lo, hi)
		}
		// Size follows bitrate and duration, with under 2% of container overhead.
		payload := float64(e.BitrateKbps) * 125 * float64(e.DurationMs) / 1000
		if r := float64(e.SizeBytes) / payload; r < 1 || r > 1.02 {
			t.Errorf("size %d is %.3f times bitrate × duration", e.SizeBytes, r)
		}
		if e.Height%2 != 0 || e.Width < e.Height || e.Height > 2160 {
			t.Errorf("odd picture %dx%d", e.Width, e.Height)
		}
		codecs[e.VideoCodec]++
		classes[privacy.Resolution("video", e.Width, e.Height)]++
	}
	for _, c := range []string{"h264", "hevc", "av1"} {
		if codecs[c] == 0 {
			t.Errorf("no %s encode among 150", c)
		}
	}
	for _, c := range []string{"SD", "720p", "1080p", "4K"} {
		if classes[c] == 0 {
			t.Errorf("no %s encode among 150 (classes: %v)", c, classes)
		}
	}
}

func TestRun(t *testing.T) {
	if _, err := audit.Run(audit.Catalog{}, audit.Options{}); err == nil {
		t.Error("an empty catalog was audited")
	}
	// Five titles cannot hide each other: the targets must fail, and say why.
	r, err := audit.Run(loadFixture(t, "testdata/catalog.json"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Pass || len(r.Failures) != 2 {
		t.Errorf("pass = %v, failures %q; want both targets missed", r.Pass, r.Failures)
	}
	if r.EncodesPerTitle != 4 || r.Seed != 1 || r.Targets != audit.DefaultTargets {
		t.Errorf("defaults not applied: %d encodes per title, seed %d, targets %+v", r.EncodesPerTitle, r.Seed, r.Targets)
	}
	// Two hundred films of the same length, seen only through coarse buckets, do
	// hide each other; raw, they are all unique.
	var many audit.Catalog
	for i := range 200 {
		many.Titles = append(many.Titles, audit.Title{Name: "film", Minutes: 100 + i%10})
	}
	r, err = audit.Run(many, audit.Options{EncodesPerTitle: 4, Seed: 3, Targets: audit.Targets{MaxUniqueTitleShare: 0.05, MinMedianK: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Pass || r.Raw.UniqueTitles != 200 {
		t.Errorf("pass = %v (%q), raw unique titles %d; want a pass and 200 raw-unique titles", r.Pass, r.Failures, r.Raw.UniqueTitles)
	}
}

func TestRunCommand(t *testing.T) {
	var out bytes.Buffer
	err := audit.RunCommand(audit.Config{Catalog: "testdata/catalog.json", EncodesPerTitle: 2, Seed: 1, Format: "text"}, &out)
	if !errors.Is(err, audit.ErrTargetsMissed) {
		t.Errorf("err = %v, want ErrTargetsMissed", err)
	}
	for _, s := range []string{"5 titles with a running time (3 catalog entries without one skipped)", "exact minutes", "generalized", "target: unique titles <= 1.00%: FAIL", "rarest generalized tuples"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, out.String())
		}
	}
	out.Reset()
	err = audit.RunCommand(audit.Config{Catalog: "testdata/catalog.json", EncodesPerTitle: 2, Seed: 1, Format: "json"}, &out)
	if !errors.Is(err, audit.ErrTargetsMissed) {
		t.Errorf("err = %v, want ErrTargetsMissed", err)
	}
	var r audit.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("JSON report does not parse: %v\n%s", err, out.String())
	}
	if r.CatalogTitles != 5 || r.Generalized.Encodes != 10 || r.Pass {
		t.Errorf("JSON report = %+v", r)
	}
	for _, bad := range []audit.Config{
		{EncodesPerTitle: 4, Format: "text"},
		{Catalog: "testdata/catalog.json", EncodesPerTitle: 0, Format: "text"},
		{Catalog: "testdata/catalog.json", EncodesPerTitle: 4, Format: "yaml"},
		{Catalog: "testdata/missing.json", EncodesPerTitle: 4, Format: "text"},
	} {
		if err := audit.RunCommand(bad, &out); err == nil || errors.Is(err, audit.ErrTargetsMissed) {
			t.Errorf("RunCommand(%+v) = %v, want a configuration error", bad, err)
		}
	}
}

// TestAuditRealCatalog runs the audit on vega-datasets' movies.json, whose path
// scripts/test exports as VEIL_CATALOG (scripts/catalog installs it).
func TestAuditRealCatalog(t *testing.T) {
	path := os.Getenv("VEIL_CATALOG")
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("VEIL_CATALOG is not set: the re-identification audit needs the film catalog; run scripts/test, which installs it")
		}
		t.Skip("VEIL_CATALOG not set: skipping the re-identification audit on the real catalog (scripts/catalog prints the path)")
	}
	c := loadFixture(t, path)
	if len(c.Titles) < 1000 {
		t.Fatalf("%s has %d titles with a running time; vega-datasets' movies.json has 1,209", path, len(c.Titles))
	}
	r, err := audit.Run(c, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", text.String())
	// The audit can see risk: exact values name nearly every title, and exact
	// minutes alone name about 2% of them.
	if r.Raw.UniqueTitleShare <= 0.9 {
		t.Errorf("only %.1f%% of titles are unique by their raw fields; the audit should find nearly all", 100*r.Raw.UniqueTitleShare)
	}
	if m := r.Minutes.UniqueTitleShare; m < 0.01 || m > 0.03 {
		t.Errorf("%.2f%% of titles are unique by exact minutes; the catalog has about 2%%", 100*m)
	}
	// The promise.
	g := r.Generalized
	if g.UniqueTitleShare > 0.01 {
		t.Errorf("%.2f%% of titles are unique under the generalized tuple; the target is at most 1%%", 100*g.UniqueTitleShare)
	}
	if g.KMedian < 20 {
		t.Errorf("median k is %d under the generalized tuple; the target is at least 20", g.KMedian)
	}
	if want := g.UniqueTitleShare <= 0.01 && g.KMedian >= 20; r.Pass != want {
		t.Errorf("Report.Pass = %v disagrees with the figures", r.Pass)
	}
}
