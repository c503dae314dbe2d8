// Command producer is the pipeline's entry point: `producer simulate` drives a
// simulated fleet of media servers into the raw topic.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/veiltelemetry/veil/internal/cli"
	"github.com/veiltelemetry/veil/internal/privacytab"
	"github.com/veiltelemetry/veil/internal/producer"
)

func main() {
	os.Exit(cli.Main("producer", os.Args[1:], "simulate", map[string]cli.Command{
		"privacy": {Summary: "write the privacy tab: every event and field, what is done to it, a real before/after example", Register: privacytab.Command},
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
	}))
}
