package audit

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// ErrTargetsMissed is returned by RunCommand when the generalized tuple misses a
// target; the report has been written.
var ErrTargetsMissed = errors.New("audit: re-identification targets missed")

// Config of the audit command.
type Config struct {
	Catalog         string // --catalog: vega-datasets' data/movies.json (required)
	EncodesPerTitle int    // --encodes-per-title: default 4
	Seed            uint64 // --seed: default 1
	Format          string // --format: text (default) or json
}

// Register adds the command's flags to fs.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Catalog, "catalog", "", "film catalog: vega-datasets' data/movies.json (scripts/catalog prints its path)")
	fs.IntVar(&c.EncodesPerTitle, "encodes-per-title", 4, "simulated files per title")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the simulation")
	fs.StringVar(&c.Format, "format", "text", "text or json")
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Catalog == "":
		return errors.New("audit: --catalog is required (scripts/catalog prints the path)")
	case c.EncodesPerTitle < 1:
		return fmt.Errorf("audit: --encodes-per-title must be at least 1, got %d", c.EncodesPerTitle)
	case c.Format != "text" && c.Format != "json":
		return fmt.Errorf("audit: --format: want text or json, got %q", c.Format)
	}
	return nil
}

// RunCommand loads the catalog, runs the audit and writes the report to out. It
// returns ErrTargetsMissed, after writing the report, when a target is missed.
func RunCommand(cfg Config, out io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	f, err := os.Open(cfg.Catalog)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	cat, err := LoadCatalog(f)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Catalog, err)
	}
	r, err := Run(cat, Options{EncodesPerTitle: cfg.EncodesPerTitle, Seed: cfg.Seed})
	if err != nil {
		return err
	}
	if cfg.Format == "json" {
		err = r.WriteJSON(out)
	} else {
		err = r.WriteText(out)
	}
	if err != nil {
		return fmt.Errorf("audit: write report: %w", err)
	}
	if !r.Pass {
		return fmt.Errorf("%w: %v", ErrTargetsMissed, r.Failures)
	}
	return nil
}
