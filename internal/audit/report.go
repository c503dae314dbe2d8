package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Targets are the promise the generalized tuple must keep.
type Targets struct {
	MaxUniqueTitleShare float64 `json:"max_unique_title_share"` // default 0.01
	MinMedianK          int     `json:"min_median_k"`           // default 20
}

// DefaultTargets: at most 1% of titles unique, median k of at least 20.
var DefaultTargets = Targets{MaxUniqueTitleShare: 0.01, MinMedianK: 20}

// Options of an audit run.
type Options struct {
	EncodesPerTitle int     // default 4
	Seed            uint64  // default 1
	Targets         Targets // default DefaultTargets
}

// Report is the outcome of an audit.
type Report struct {
	CatalogTitles   int      `json:"catalog_titles"`  // titles with a running time
	CatalogSkipped  int      `json:"catalog_skipped"` // entries without one
	EncodesPerTitle int      `json:"encodes_per_title"`
	Seed            uint64   `json:"seed"`
	Minutes         Stats    `json:"exact_minutes"`
	Raw             Stats    `json:"raw"`
	Generalized     Stats    `json:"generalized"`
	WithCodec       Stats    `json:"generalized_with_codec"` // informational
	Targets         Targets  `json:"targets"`
	Pass            bool     `json:"pass"`
	Failures        []string `json:"failures,omitempty"`
}

// Run simulates the encodes of the catalog and measures every tuple. It needs at
// least one title.
func Run(c Catalog, o Options) (Report, error) {
	if o.EncodesPerTitle == 0 {
		o.EncodesPerTitle = 4
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Targets == (Targets{}) {
		o.Targets = DefaultTargets
	}
	if o.EncodesPerTitle < 0 {
		return Report{}, fmt.Errorf("audit: encodes per title must be positive, got %d", o.EncodesPerTitle)
	}
	if len(c.Titles) == 0 {
		return Report{}, fmt.Errorf("audit: the catalog has no title with a running time")
	}
	enc := Simulate(c.Titles, o.EncodesPerTitle, o.Seed)
	r := Report{
		CatalogTitles: len(c.Titles), CatalogSkipped: c.Skipped, EncodesPerTitle: o.EncodesPerTitle, Seed: o.Seed,
		Minutes:     Measure("exact minutes", enc, MinutesTuple),
		Raw:         Measure("raw", enc, RawTuple),
		Generalized: Measure("generalized", enc, GeneralizedTuple),
		WithCodec:   Measure("generalized+codec", enc, GeneralizedCodecTuple),
		Targets:     o.Targets,
	}
	g := r.Generalized
	if g.UniqueTitleShare > o.Targets.MaxUniqueTitleShare {
		r.Failures = append(r.Failures, fmt.Sprintf("%.2f%% of titles are unique under the generalized tuple (target at most %.2f%%)",
			100*g.UniqueTitleShare, 100*o.Targets.MaxUniqueTitleShare))
	}
	if g.KMedian < o.Targets.MinMedianK {
		r.Failures = append(r.Failures, fmt.Sprintf("median k is %d under the generalized tuple (target at least %d)", g.KMedian, o.Targets.MinMedianK))
	}
	r.Pass = len(r.Failures) == 0
	return r, nil
}

const legend = `
exact minutes      the catalog's running time in minutes alone (reference)
raw                duration_ms, bitrate_kbps, size_bytes, width, height as a device sends them
generalized        duration, bitrate and size buckets and resolution class, as the clean topic holds them:
                   the targets apply to this column
generalized+codec  the same plus the video codec, which the clean topic keeps as sent (for information)
k = how many distinct titles share an encode's tuple; a title is unique when one of its encodes has k = 1.

`

// WriteJSON writes the report as one indented JSON document.
func (r Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// WriteText writes the report for people: a table of every tuple, the verdict, and
// the rarest generalized tuples (where a rule would need coarsening).
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Re-identification audit: %d titles with a running time (%d catalog entries without one skipped), %d encodes each, seed %d\n\n",
		r.CatalogTitles, r.CatalogSkipped, r.EncodesPerTitle, r.Seed)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	cols := []Stats{r.Minutes, r.Raw, r.Generalized, r.WithCodec}
	row := func(label string, f func(Stats) string) {
		fmt.Fprintf(tw, "%s\t", label) // a label cell, then one per tuple
		for _, s := range cols {
			fmt.Fprintf(tw, "%s\t", f(s))
		}
		fmt.Fprintln(tw)
	}
	row("", func(s Stats) string { return s.Tuple })
	row("titles", func(s Stats) string { return fmt.Sprint(s.Titles) })
	row("encodes", func(s Stats) string { return fmt.Sprint(s.Encodes) })
	row("distinct tuples", func(s Stats) string { return fmt.Sprint(s.Cells) })
	row("unique titles", func(s Stats) string { return fmt.Sprintf("%d (%.2f%%)", s.UniqueTitles, 100*s.UniqueTitleShare) })
	row("unique encodes", func(s Stats) string { return fmt.Sprintf("%d (%.2f%%)", s.UniqueEncodes, 100*s.UniqueEncodeShare) })
	row("k min/p10/median/p90", func(s Stats) string { return fmt.Sprintf("%d/%d/%d/%d", s.KMin, s.KP10, s.KMedian, s.KP90) })
	tw.Flush()
	b.WriteString(legend)
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	g := r.Generalized
	fmt.Fprintf(&b, "target: unique titles <= %.2f%%: %s (%.2f%%)\n", 100*r.Targets.MaxUniqueTitleShare, verdict(g.UniqueTitleShare <= r.Targets.MaxUniqueTitleShare), 100*g.UniqueTitleShare)
	fmt.Fprintf(&b, "target: median k >= %d: %s (%d)\n", r.Targets.MinMedianK, verdict(g.KMedian >= r.Targets.MinMedianK), g.KMedian)
	fmt.Fprintf(&b, "\nrarest generalized tuples (k titles / encodes):\n")
	for _, c := range g.Rarest {
		fmt.Fprintf(&b, "  %4d / %-4d %s\n", c.K, c.Encodes, c.Tuple)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
