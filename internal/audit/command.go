package audit

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/veiltelemetry/veil/schemas"
)

// ErrTargetsMissed is returned by RunCommand when the clean tuple misses a
// target in some seed; the report has been written.
var ErrTargetsMissed = errors.New("audit: re-identification targets missed")

// Config of the audit command.
type Config struct {
	Catalog   string // --catalog: vega-datasets' data/movies.json (required)
	Seeds     int    // --seeds: default DefaultSeeds (10)
	FirstSeed uint64 // --first-seed: default 1
	Several   int    // --several: files per title of the second scenario, default DefaultSeveral (4)
	Format    string // --format: text (default) or json
}

// Register adds the command's flags to fs.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Catalog, "catalog", "", "film catalog: vega-datasets' data/movies.json (scripts/catalog prints its path)")
	fs.IntVar(&c.Seeds, "seeds", DefaultSeeds, "how many simulated libraries (seeds first-seed, first-seed+1, ...)")
	fs.Uint64Var(&c.FirstSeed, "first-seed", 1, "first seed of the simulation")
	fs.IntVar(&c.Several, "several", DefaultSeveral, "files per title of the second scenario (the first has one)")
	fs.StringVar(&c.Format, "format", "text", "text or json")
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Catalog == "":
		return errors.New("audit: --catalog is required (scripts/catalog prints the path)")
	case c.Seeds < 1:
		return fmt.Errorf("audit: --seeds must be at least 1, got %d", c.Seeds)
	case c.FirstSeed < 1:
		return fmt.Errorf("audit: --first-seed must be at least 1, got %d", c.FirstSeed)
	case c.Several < 2:
		return fmt.Errorf("audit: --several must be at least 2, got %d", c.Several)
	case c.Format != "text" && c.Format != "json":
		return fmt.Errorf("audit: --format: want text or json, got %q", c.Format)
	}
	return nil
}

// RunCommand loads the catalog, runs the audit against the schemas and policy
// compiled into the binary and writes the report to out. It returns
// ErrTargetsMissed, after writing the report, when a target is missed.
func RunCommand(cfg Config, out io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cat, err := LoadCatalogFile(cfg.Catalog)
	if err != nil {
		return err
	}
	reg, err := schemas.Load()
	if err != nil {
		return err
	}
	r, err := Run(reg, cat, Options{Seeds: cfg.Seeds, FirstSeed: cfg.FirstSeed, Several: cfg.Several})
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

// LoadCatalogFile is LoadCatalog of the file at path.
func LoadCatalogFile(path string) (Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return Catalog{}, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	cat, err := LoadCatalog(f)
	if err != nil {
		return Catalog{}, fmt.Errorf("%s: %w", path, err)
	}
	return cat, nil
}
