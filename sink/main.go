// Command sink loads clean events into ClickHouse.
package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"

	"github.com/veiltelemetry/veil/internal/cli"
	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/sink"
)

func main() {
	os.Exit(cli.Main("sink", os.Args[1:], "run", map[string]cli.Command{
		"run": {Summary: "consume the clean topic into ClickHouse (default)", Register: func(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
			var cfg sink.Config
			cfg.Register(fs)
			return func(ctx context.Context, log *slog.Logger, _ io.Writer) error {
				return sink.Run(ctx, cfg, log, obs.NewRegistry())
			}
		}},
		"migrate": {Summary: "create or upgrade the ClickHouse tables and exit", Register: func(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
			var cfg sink.Config
			cfg.Register(fs)
			return func(ctx context.Context, log *slog.Logger, _ io.Writer) error { return sink.Migrate(ctx, cfg, log) }
		}},
	}))
}
