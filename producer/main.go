// Command producer is the pipeline's entry point: `producer serve` runs the HTTP
// collector devices post events to, `producer simulate` drives a simulated fleet of
// media servers into the raw topic, `producer loadgen` loads a collector, and
// `producer credential issue` signs an installation's credential.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/veiltelemetry/veil/internal/cli"
	"github.com/veiltelemetry/veil/internal/credential"
	"github.com/veiltelemetry/veil/internal/loadgen"
	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/privacytab"
	"github.com/veiltelemetry/veil/internal/producer"
	"github.com/veiltelemetry/veil/internal/stream"
)

func main() {
	stream.UseLZ4Blocks64K() // 64 KiB LZ4 blocks for every Kafka client of the process
	args := os.Args[1:]
	if len(args) > 1 && args[0] == "credential" { // "credential issue": one command to cli.Main
		args = append([]string{args[0] + " " + args[1]}, args[2:]...)
	}
	// No default command: `producer` alone prints the usage, it does not write
	// simulated events to whatever raw topic the environment names.
	os.Exit(cli.Main("producer", args, "", map[string]cli.Command{
		"privacy": {Summary: "write the privacy tab: every event and field, what is done to it, a real before/after example", ExitOnSignal: true, Register: privacytab.Command},
		"simulate": {Summary: "send simulated fleet traffic to the raw topic", Register: func(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
			var cfg producer.SimulateConfig
			cfg.Register(fs)
			return func(ctx context.Context, log *slog.Logger, out io.Writer) error {
				s, err := producer.Simulate(ctx, cfg, log, os.Stderr)
				fmt.Fprintln(out, s)
				if err == nil && s.Failed > 0 {
					err = fmt.Errorf("%d events were not acknowledged by Kafka", s.Failed)
				}
				return err
			}
		}},
		"serve": {Summary: "run the HTTP collector: POST /v1/events into the raw topic, /v1/consent, /privacy", Register: func(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
			var cfg producer.ServeConfig
			cfg.Register(fs)
			return func(ctx context.Context, log *slog.Logger, _ io.Writer) error {
				reg, err := obs.NewRegistry()
				if err != nil {
					return err
				}
				return producer.Serve(ctx, cfg, log, reg)
			}
		}},
		"loadgen": {Summary: "post simulated batches to a collector for a bounded time and report its throughput", Register: func(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
			var cfg loadgen.Config
			cfg.Register(fs)
			return func(ctx context.Context, _ *slog.Logger, out io.Writer) error {
				r, err := loadgen.Run(ctx, cfg, os.Stderr)
				fmt.Fprintln(out, r)
				return err
			}
		}},
		"credential issue": {Summary: "sign an installation credential with the first secret of --credential-secrets-file", Register: credential.IssueCommand},
	}))
}
