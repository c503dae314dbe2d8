// Command enricher applies the privacy policy: raw topic in, clean topic out. It also
// builds the IP geolocation database (geoip build) and audits how identifying the
// generalized media fields are (audit).
package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"

	"github.com/veiltelemetry/veil/internal/audit"
	"github.com/veiltelemetry/veil/internal/cli"
	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/enricher"
	"github.com/veiltelemetry/veil/internal/geo"
	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/stream"
)

func main() {
	stream.UseLZ4Blocks64K() // 64 KiB LZ4 blocks for every Kafka client of the process
	args := os.Args[1:]
	if len(args) > 1 && (args[0] == "geoip" || args[0] == "keys") { // "geoip build", "keys rotate": one command to cli.Main
		args = append([]string{args[0] + " " + args[1]}, args[2:]...)
	}
	os.Exit(cli.Main("enricher", args, "run", map[string]cli.Command{
		"run": {Summary: "consume the raw topic, write clean events (default)", Register: func(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
			var cfg enricher.Config
			cfg.Register(fs)
			return func(ctx context.Context, log *slog.Logger, _ io.Writer) error {
				reg, err := obs.NewRegistry()
				if err != nil {
					return err
				}
				return enricher.Run(ctx, cfg, log, reg)
			}
		}},
		"keys rotate": {Summary: "rotate the pseudonym keys once, as enricher run does every --key-rotate-every", ExitOnSignal: true, Register: func(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
			var cfg enricher.Config
			cfg.Register(fs)
			return func(_ context.Context, _ *slog.Logger, out io.Writer) error { return enricher.RotateKeys(cfg, out) }
		}},
		"replay-deadletter": {Summary: "re-inject dead letters into the topic they came from, once what failed them is fixed", Register: stream.ReplayCommand},
		"audit": {Summary: "measure how identifying the generalized media fields are on a real film catalog", ExitOnSignal: true, Register: func(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
			var cfg audit.Config
			cfg.Register(fs)
			return func(_ context.Context, _ *slog.Logger, w io.Writer) error { return audit.RunCommand(cfg, w) }
		}},
		"geoip build": {Summary: "build the IP → country database (MMDB) from tor-geoipdb files", Register: func(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
			from := config.List{"/usr/share/tor/geoip", "/usr/share/tor/geoip6"}
			fs.Var(&from, "from", "comma-separated files in tor's geoip format (LOW,HIGH,CC lines)")
			out := fs.String("out", "", "database file to write (required)")
			return func(ctx context.Context, _ *slog.Logger, w io.Writer) error {
				_, err := geo.BuildFile(ctx, *out, from, w)
				return err
			}
		}},
	}))
}
