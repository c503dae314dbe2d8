// Package cli holds what the three mains share: one cancel root on SIGINT/SIGTERM,
// a structured logger, and subcommand dispatch with flags parsed from the command
// line and VEIL_* environment variables.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/obs"
)

// Command is one subcommand of a binary.
type Command struct {
	Summary string
	// Register adds the command's flags and returns the function to run after parsing.
	Register func(fs *flag.FlagSet) func(ctx context.Context, log *slog.Logger, out io.Writer) error
	// GCPercent, when set, is the command's garbage collection target (GOGC)
	// unless the environment sets GOGC: a lower value trades some CPU for a
	// smaller peak memory.
	GCPercent int
}

// Main runs the subcommand named by args[0] (or def when args is empty or starts
// with a flag) and returns the process exit code: 0, 1 on failure, 2 on bad usage.
func Main(name string, args []string, def string, cmds map[string]Command) int {
	sub := def
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	cmd, ok := cmds[sub]
	if !ok {
		usage(name, cmds)
		if sub == "help" {
			return 0
		}
		return 2
	}
	fs := flag.NewFlagSet(name+" "+sub, flag.ContinueOnError)
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	pprofAddr := fs.String("pprof-addr", "", "serve Go profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; keep it private, profiles show the command line; empty: off")
	run := cmd.Register(fs)
	if err := config.Parse(fs, args, config.OSLookup); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "%s %s: %v\n", name, sub, err)
		return 2
	}
	log, err := newLogger(*level, *format)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	log = log.With("bin", name)
	if cmd.GCPercent > 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cmd.GCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *pprofAddr != "" {
		go func() {
			if err := obs.Serve(ctx, *pprofAddr, obs.Pprof(), log.With("server", "pprof")); err != nil {
				log.Error("profile server failed", "err", err)
			}
		}()
	}
	if err := run(ctx, log, os.Stdout); err != nil {
		log.Error(sub+" failed", "err", err)
		return 1
	}
	return 0
}

func usage(name string, cmds map[string]Command) {
	fmt.Fprintf(os.Stderr, "usage: %s <command> [flags]   (%s <command> -h for its flags)\n\ncommands:\n", name, name)
	keys := make([]string, 0, len(cmds))
	for k := range cmds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(os.Stderr, "  %-18s %s\n", k, cmds[k].Summary)
	}
}

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: want text or json, got %q", format)
}
