// Command enricher applies the privacy policy: raw topic in, clean topic out.
package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"

	"github.com/veiltelemetry/veil/internal/cli"
	"github.com/veiltelemetry/veil/internal/enricher"
	"github.com/veiltelemetry/veil/internal/obs"
)

func main() {
	os.Exit(cli.Main("enricher", os.Args[1:], "run", map[string]cli.Command{
		"run": {Summary: "consume the raw topic, write clean events (default)", Register: func(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
			var cfg enricher.Config
			cfg.Register(fs)
			return func(ctx context.Context, log *slog.Logger, _ io.Writer) error {
				return enricher.Run(ctx, cfg, log, obs.NewRegistry())
			}
		}},
	}))
}
