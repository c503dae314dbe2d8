// Package cli holds what the three mains share: one cancel root on SIGINT/SIGTERM,
// a structured logger, and subcommand dispatch with flags parsed from the command
// line and VEIL_* environment variables.
//
// Signals: the first SIGINT or SIGTERM cancels the command's context, and the
// command drains within a couple of seconds: what can still finish (a write
// Kafka is acknowledging, an INSERT ClickHouse is taking) finishes, what is
// failing or waiting for an unreachable service is abandoned, uncommitted or
// reported as not done. A second signal exits at once without draining.
//
// Exit codes: 0 when the command did its work (a server or consumer stopped by
// a signal after draining cleanly did), 1 when it failed or was interrupted
// with work left undone (the reason is logged, and a command with a summary
// prints it), 2 for bad usage, and 130 (SIGINT) or 143 (SIGTERM) when a second
// signal, or the first for a command with nothing to drain, ended it at once.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"

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
	// ExitOnSignal makes the first SIGINT or SIGTERM end the process at once
	// (exit code 130 or 143), for commands that talk to no service and hold
	// nothing a shutdown must drain: they write their output whole or not at
	// all, and would otherwise run to the end, ignoring the signal.
	ExitOnSignal bool
}

// Main runs the subcommand named by args[0] (or def when args is empty or starts
// with a flag; with def "", none: Main prints the usage) and returns the process
// exit code: 0, 1 on failure or when interrupted with work undone, 2 on bad
// usage (see the package comment; a second signal exits with 130 or 143 without
// returning).
func Main(name string, args []string, def string, cmds map[string]Command) int {
	return runMain(name, args, def, cmds, osSignals())
}

func runMain(name string, args []string, def string, cmds map[string]Command, sig signals) int {
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
	ctx, stop := notifyContext(context.Background(), log, sig, cmd.ExitOnSignal)
	defer stop()
	if *pprofAddr != "" {
		go func() {
			if err := obs.Serve(ctx, *pprofAddr, obs.Pprof(), log.With("server", "pprof")); err != nil {
				log.Error("profile server failed", "err", err)
			}
		}()
	}
	if err := run(ctx, log, os.Stdout); err != nil {
		var intr Interrupted
		if errors.As(context.Cause(ctx), &intr) {
			log.Error(sub+" interrupted", "signal", signalName(intr.Signal), "err", err)
		} else {
			log.Error(sub+" failed", "err", err)
		}
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
