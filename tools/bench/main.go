// Command bench measures the pipeline against baselines taken in the same run:
// kafka-go, goavro and clickhouse-go alone, each binary alone, the whole pipeline
// end to end (rate, zero loss, latency, RSS, CPU, lag) and the HTTP collector. It
// prints one table and writes the figures as JSON. scripts/bench builds the
// binaries and runs it; see tools/bench/internal/bench.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/veiltelemetry/veil/internal/cli"
	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/tools/bench/internal/bench"
)

func main() {
	stream.UseLZ4Blocks64K() // 64 KiB LZ4 blocks for every Kafka client of the process
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var cfg bench.Config
	cfg.Register(fs)
	verbose := fs.Bool("v", false, "log debug lines too (the command line of every started binary)")
	if err := config.Parse(fs, os.Args[1:], config.OSLookup); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	cfg.Flags = bench.FlagValues(fs)
	cfg.Argv = os.Args
	cfg.Command = os.Getenv("VEIL_BENCH_COMMAND") // scripts/bench: what was typed
	if cfg.Command == "" {
		cfg.Command = bench.ShellJoin(os.Args)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := cli.NotifyContext(context.Background(), log) // a second Ctrl-C exits at once
	defer stop()
	if err := bench.Run(ctx, cfg, log, os.Stdout); err != nil {
		log.Error("bench failed", "err", err)
		os.Exit(1)
	}
}
