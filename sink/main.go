// Command sink loads clean events into ClickHouse.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/cli"
	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/sink"
	"github.com/veiltelemetry/veil/internal/stream"
)

func main() {
	stream.UseLZ4Blocks64K() // 64 KiB LZ4 blocks for every Kafka client of the process
	os.Exit(cli.Main("sink", os.Args[1:], "run", map[string]cli.Command{
		// GOGC 50: the sink holds a batch of 25,000 records while the driver
		// copies it into columns; at Go's default of 100 its peak RSS at full
		// rate was about 230 MiB, at 50 about 165 MiB, for about 10% more CPU.
		// It also gets a soft memory limit (sink.MemoryLimit).
		"run": {Summary: "consume the clean topic into ClickHouse (default)", GCPercent: 50, Register: func(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
			var cfg sink.Config
			cfg.Register(fs)
			return func(ctx context.Context, log *slog.Logger, _ io.Writer) error {
				if os.Getenv("GOMEMLIMIT") == "" {
					limit := sink.MemoryLimit(cfg)
					debug.SetMemoryLimit(limit)
					log.Info("soft memory limit", "mib", limit>>20, "override", "GOMEMLIMIT")
				}
				reg, err := obs.NewRegistry()
				if err != nil {
					return err
				}
				return sink.Run(ctx, cfg, log, reg)
			}
		}},
		"migrate": {Summary: "create or upgrade the ClickHouse tables and exit", Register: func(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
			var cfg sink.Config
			cfg.Register(fs)
			return func(ctx context.Context, log *slog.Logger, _ io.Writer) error { return sink.Migrate(ctx, cfg, log) }
		}},
		"retention": {Summary: "drop month partitions older than --months from every table and rollup", Register: func(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
			var cfg sink.Config
			cfg.Register(fs)
			months := fs.Int("months", 0, "required: months of data to keep before the current month")
			dryRun := fs.Bool("dry-run", false, "list the partitions that would be dropped, drop nothing")
			return func(ctx context.Context, _ *slog.Logger, out io.Writer) error {
				if *months < 1 {
					return fmt.Errorf("--months: must be at least 1, got %d", *months)
				}
				return chstore.Retain(ctx, cfg.ClickHouseOptions(), *months, *dryRun, time.Now(), out)
			}
		}},
	}))
}
