package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/veiltelemetry/veil/schemas"
)

// Targets are the promise the clean tuple must keep with one file per title, in
// every seed.
type Targets struct {
	MaxUniqueTitleShare float64 `json:"max_unique_title_share"` // default 0.01
	MinMedianK          int     `json:"min_median_k"`           // default 20
}

// DefaultTargets: at most 1% of titles unique, median k of at least 20.
var DefaultTargets = Targets{MaxUniqueTitleShare: 0.01, MinMedianK: 20}

// Defaults of Options.
const (
	DefaultSeeds   = 10
	DefaultSeveral = 4
)

// Options of an audit run.
type Options struct {
	Seeds     int     // how many seeds, FirstSeed, FirstSeed+1, ...; default DefaultSeeds
	FirstSeed uint64  // default 1
	Several   int     // files per title of the second scenario; default DefaultSeveral
	Targets   Targets // default DefaultTargets
}

// Report is the outcome of an audit.
type Report struct {
	CatalogTitles  int      `json:"catalog_titles"`  // titles with a running time
	CatalogSkipped int      `json:"catalog_skipped"` // entries without one
	Kind           string   `json:"kind"`
	Inputs         []string `json:"raw_fields"` // the raw media fields the policy keeps
	Tuple          []string `json:"tuple"`      // the clean fields written from them
	Seeds          []uint64 `json:"seeds"`
	Targets        Targets  `json:"targets"`
	// Scenarios are one file per title (the targets apply) and several.
	Scenarios []Scenario `json:"scenarios"`
	Pass      bool       `json:"pass"`
	Failures  []string   `json:"failures,omitempty"`
}

// Scenario is the audit of one number of files per title over every seed.
type Scenario struct {
	FilesPerTitle int       `json:"files_per_title"`
	Targeted      bool      `json:"targeted"` // the targets apply to this scenario
	Runs          []SeedRun `json:"runs"`     // one per seed, in seed order
	// Spread of each tuple's figures over the seeds.
	Clean   Spread `json:"clean"`
	Raw     Spread `json:"raw"`
	Minutes Spread `json:"exact_minutes"`
	// WorstSeed is the seed with the largest share of unique titles under the
	// clean tuple (on a tie, the smaller median k, then the smaller seed).
	WorstSeed uint64 `json:"worst_seed"`
}

// Worst returns the run of WorstSeed.
func (s Scenario) Worst() SeedRun {
	for _, r := range s.Runs {
		if r.Seed == s.WorstSeed {
			return r
		}
	}
	return SeedRun{}
}

// SeedRun is one seed's simulated library measured under each tuple.
type SeedRun struct {
	Seed    uint64 `json:"seed"`
	Clean   Stats  `json:"clean"`         // what the clean topic holds: the targets apply
	Raw     Stats  `json:"raw"`           // the same fields as the device sent them
	Minutes Stats  `json:"exact_minutes"` // the catalog's minutes alone, a reference
}

// Range is the minimum, median (nearest rank: the lower of the two middle values)
// and maximum of a figure over the seeds.
type Range[T int | float64] struct {
	Min    T `json:"min"`
	Median T `json:"median"`
	Max    T `json:"max"`
}

func rangeOf[T int | float64](v []T) Range[T] {
	s := append([]T(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return Range[T]{Min: s[0], Median: s[(len(s)-1)/2], Max: s[len(s)-1]}
}

// Spread is a tuple's figures over the seeds.
type Spread struct {
	UniqueTitleShare Range[float64] `json:"unique_title_share"`
	KMedian          Range[int]     `json:"k_median"`
}

func spread(runs []SeedRun, of func(SeedRun) Stats) Spread {
	var u []float64
	var k []int
	for _, r := range runs {
		u, k = append(u, of(r).UniqueTitleShare), append(k, of(r).KMedian)
	}
	return Spread{UniqueTitleShare: rangeOf(u), KMedian: rangeOf(k)}
}

func (o *Options) defaults() {
	if o.Seeds == 0 {
		o.Seeds = DefaultSeeds
	}
	if o.FirstSeed == 0 {
		o.FirstSeed = 1
	}
	if o.Several == 0 {
		o.Several = DefaultSeveral
	}
	if o.Targets == (Targets{}) {
		o.Targets = DefaultTargets
	}
}

// Run simulates the catalog's files for every seed, with one file per title and
// with several, runs the privacy policy of reg on each and measures the tuples.
// It needs at least one title, and fails when the tuple cannot be derived
// (NewTuple) or the policy refuses a file of the model.
func Run(reg *schemas.Registry, c Catalog, o Options) (Report, error) {
	o.defaults()
	switch {
	case o.Seeds < 1:
		return Report{}, fmt.Errorf("audit: seeds must be at least 1, got %d", o.Seeds)
	case o.Several < 2:
		return Report{}, fmt.Errorf("audit: several files per title must be at least 2, got %d", o.Several)
	case len(c.Titles) == 0:
		return Report{}, fmt.Errorf("audit: the catalog has no title with a running time")
	}
	tup, err := NewTuple(reg)
	if err != nil {
		return Report{}, err
	}
	r := Report{
		CatalogTitles: len(c.Titles), CatalogSkipped: c.Skipped, Kind: Kind,
		Inputs: tup.Inputs, Tuple: tup.Fields, Targets: o.Targets,
	}
	for i := range o.Seeds {
		r.Seeds = append(r.Seeds, o.FirstSeed+uint64(i))
	}
	for n, files := range []int{1, o.Several} {
		sc := Scenario{FilesPerTitle: files, Targeted: n == 0}
		for _, seed := range r.Seeds {
			run, err := measureSeed(tup, c.Titles, files, seed)
			if err != nil {
				return Report{}, err
			}
			sc.Runs = append(sc.Runs, run)
		}
		sc.Clean = spread(sc.Runs, func(r SeedRun) Stats { return r.Clean })
		sc.Raw = spread(sc.Runs, func(r SeedRun) Stats { return r.Raw })
		sc.Minutes = spread(sc.Runs, func(r SeedRun) Stats { return r.Minutes })
		worst := sc.Runs[0]
		for _, run := range sc.Runs[1:] {
			a, b := run.Clean, worst.Clean
			if a.UniqueTitleShare > b.UniqueTitleShare || a.UniqueTitleShare == b.UniqueTitleShare && a.KMedian < b.KMedian {
				worst = run
			}
		}
		sc.WorstSeed = worst.Seed
		r.Scenarios = append(r.Scenarios, sc)
	}
	var unique, smallK []string
	for _, run := range r.Scenarios[0].Runs {
		if g := run.Clean; g.UniqueTitleShare > o.Targets.MaxUniqueTitleShare {
			unique = append(unique, fmt.Sprintf("seed %d: %s", run.Seed, pct(g.UniqueTitleShare)))
		}
		if g := run.Clean; g.KMedian < o.Targets.MinMedianK {
			smallK = append(smallK, fmt.Sprintf("seed %d: %d", run.Seed, g.KMedian))
		}
	}
	if len(unique) > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("more than %s of titles are unique under the clean tuple in %d of %d seeds (%s)",
			pct(o.Targets.MaxUniqueTitleShare), len(unique), len(r.Seeds), strings.Join(unique, ", ")))
	}
	if len(smallK) > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("the median k is below %d under the clean tuple in %d of %d seeds (%s)",
			o.Targets.MinMedianK, len(smallK), len(r.Seeds), strings.Join(smallK, ", ")))
	}
	r.Pass = len(r.Failures) == 0
	return r, nil
}

func measureSeed(tup *Tuple, titles []Title, files int, seed uint64) (SeedRun, error) {
	enc := Simulate(titles, files, seed)
	clean, raw, err := tup.Keys(enc)
	if err != nil {
		return SeedRun{}, err
	}
	ids, minutes := make([]int, len(enc)), make([]string, len(enc))
	for i, e := range enc {
		ids[i], minutes[i] = e.Title, strconv.Itoa(e.Minutes)+" min"
	}
	return SeedRun{
		Seed:    seed,
		Clean:   Measure("clean", ids, clean),
		Raw:     Measure("raw", ids, raw),
		Minutes: Measure("exact minutes", ids, minutes),
	}, nil
}

const legend = `clean          what the clean topic holds of a file: the tuple's fields, written by the privacy policy
raw            the same raw fields as the device sent them (exact duration, bitrate, size, picture, codec names)
exact minutes  the catalog's running time in minutes alone (a reference: about 2% of films are unique by it)
k = how many distinct titles share a file's tuple; a title is unique when one of its files has k = 1.
`

// WriteJSON writes the report as one indented JSON document.
func (r Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

func pct(share float64) string { return fmt.Sprintf("%.2f%%", 100*share) }

// WriteText writes the report for people: per scenario, every seed's figures,
// their spread, the worst seed in full with its rarest clean tuples, and the
// verdict.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	seeds := fmt.Sprint(r.Seeds[0])
	if n := len(r.Seeds); n > 1 {
		seeds = fmt.Sprintf("%d-%d", r.Seeds[0], r.Seeds[n-1])
	}
	fmt.Fprintf(&b, "Re-identification audit of %s events: %d titles with a running time (%d catalog entries without one skipped), seeds %s\n",
		r.Kind, r.CatalogTitles, r.CatalogSkipped, seeds)
	fmt.Fprintf(&b, "clean tuple (every clean field the policy writes from a raw field about the media): %s\n", strings.Join(r.Tuple, ", "))
	fmt.Fprintf(&b, "raw fields it comes from: %s\n", strings.Join(r.Inputs, ", "))
	for _, sc := range r.Scenarios {
		what := "for information"
		if sc.Targeted {
			what = "the targets apply"
		}
		fmt.Fprintf(&b, "\n== %d file(s) per title (%s)\n\n", sc.FilesPerTitle, what)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "seed\tclean: unique titles\tk min/p10/median/p90\traw: unique titles\texact minutes: unique titles\t")
		for _, run := range sc.Runs {
			c := run.Clean
			fmt.Fprintf(tw, "%d\t%d (%s)\t%d/%d/%d/%d\t%s\t%s\t\n", run.Seed, c.UniqueTitles, pct(c.UniqueTitleShare),
				c.KMin, c.KP10, c.KMedian, c.KP90, pct(run.Raw.UniqueTitleShare), pct(run.Minutes.UniqueTitleShare))
		}
		tw.Flush()
		u, k := sc.Clean.UniqueTitleShare, sc.Clean.KMedian
		fmt.Fprintf(&b, "\nclean, min/median/max over %d seeds: unique titles %s/%s/%s, median k %d/%d/%d\n",
			len(sc.Runs), pct(u.Min), pct(u.Median), pct(u.Max), k.Min, k.Median, k.Max)
		worst := sc.Worst()
		fmt.Fprintf(&b, "worst seed %d:\n\n", worst.Seed)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		cols := []Stats{worst.Minutes, worst.Raw, worst.Clean}
		row := func(label string, f func(Stats) string) {
			fmt.Fprintf(tw, "%s\t", label)
			for _, s := range cols {
				fmt.Fprintf(tw, "%s\t", f(s))
			}
			fmt.Fprintln(tw)
		}
		row("", func(s Stats) string { return s.Tuple })
		row("titles", func(s Stats) string { return fmt.Sprint(s.Titles) })
		row("files", func(s Stats) string { return fmt.Sprint(s.Encodes) })
		row("distinct tuples", func(s Stats) string { return fmt.Sprint(s.Cells) })
		row("unique titles", func(s Stats) string { return fmt.Sprintf("%d (%s)", s.UniqueTitles, pct(s.UniqueTitleShare)) })
		row("unique files", func(s Stats) string { return fmt.Sprintf("%d (%s)", s.UniqueEncodes, pct(s.UniqueEncodeShare)) })
		row("k min/p10/median/p90", func(s Stats) string { return fmt.Sprintf("%d/%d/%d/%d", s.KMin, s.KP10, s.KMedian, s.KP90) })
		tw.Flush()
		fmt.Fprintf(&b, "\nrarest clean tuples of seed %d (k titles / files):\n", worst.Seed)
		for _, c := range worst.Clean.Rarest {
			fmt.Fprintf(&b, "  %4d / %-4d %s\n", c.K, c.Encodes, c.Tuple)
		}
		if sc.Targeted {
			verdict := func(ok bool) string {
				if ok {
					return "PASS"
				}
				return "FAIL"
			}
			fmt.Fprintf(&b, "\ntarget: unique titles <= %s in every seed: %s (worst %s)\n", pct(r.Targets.MaxUniqueTitleShare),
				verdict(u.Max <= r.Targets.MaxUniqueTitleShare), pct(u.Max))
			fmt.Fprintf(&b, "target: median k >= %d in every seed: %s (lowest %d)\n", r.Targets.MinMedianK, verdict(k.Min >= r.Targets.MinMedianK), k.Min)
		}
	}
	b.WriteString("\n" + legend)
	_, err := io.WriteString(w, b.String())
	return err
}
