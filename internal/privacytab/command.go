package privacytab

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/veiltelemetry/veil/internal/geo"
	"github.com/veiltelemetry/veil/schemas"
)

// Config of `producer privacy`.
type Config struct {
	Format string // --format: markdown, html or json; default markdown
	Out    string // --out: file to write; default "" (standard output)
	GeoIP  string // --geoip: MMDB file the example IP address is located with; default "" (none: zip codes only)
}

// Register adds the command's flags to fs.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Format, "format", "markdown", "markdown, html or json")
	fs.StringVar(&c.Out, "out", "", "file to write (replaced whole or not at all); empty: standard output")
	fs.StringVar(&c.GeoIP, "geoip", "", "MMDB file to locate the example IP address with; empty: none, so only the zip code example gives a region")
}

// Validate names the first bad flag.
func (c *Config) Validate() error {
	switch c.Format {
	case "markdown", "html", "json":
		return nil
	}
	return fmt.Errorf("--format: want markdown, html or json, got %q", c.Format)
}

// Command is the `privacy` subcommand for cli.Command.Register: it builds the tab
// from the schemas compiled into the binary and writes it in cfg.Format.
func Command(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
	var cfg Config
	cfg.Register(fs)
	return func(_ context.Context, _ *slog.Logger, out io.Writer) error { return Write(cfg, out) }
}

// Write builds the tab and writes it to cfg.Out, or to out when cfg.Out is empty.
// A file is written to a temporary name and renamed into place, so it is replaced
// whole or left as it was.
func Write(cfg Config, out io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	reg, err := schemas.Load()
	if err != nil {
		return err
	}
	var opts Options
	if cfg.GeoIP != "" {
		db, err := geo.OpenMMDB(cfg.GeoIP)
		if err != nil {
			return fmt.Errorf("privacy: --geoip: %w", err)
		}
		defer db.Close()
		opts.IPs = db
	}
	tab, err := Build(reg, opts)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	switch cfg.Format {
	case "markdown":
		err = Markdown(&b, tab)
	case "html":
		err = HTML(&b, tab, "")
	case "json":
		err = JSON(&b, tab)
	}
	if err != nil {
		return err
	}
	if cfg.Out == "" {
		_, err = out.Write(b.Bytes())
		return err
	}
	return writeFile(cfg.Out, b.Bytes())
}

func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("privacy: --out: %w", err)
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("privacy: --out %s: %w", path, err)
	}
	return nil
}
