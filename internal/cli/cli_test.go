package cli

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
)

// A command's GCPercent is applied unless the environment sets GOGC.
func TestMainAppliesTheCommandsGCPercentUnlessGOGCIsSet(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	var seen int
	cmds := map[string]Command{"run": {GCPercent: 37, Register: func(*flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
		return func(context.Context, *slog.Logger, io.Writer) error {
			seen = debug.SetGCPercent(100)
			return nil
		}
	}}}

	t.Setenv("GOGC", "")
	if code := Main("test", nil, "run", cmds); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if seen != 37 {
		t.Errorf("GC percent while running: %d, want the command's 37", seen)
	}

	t.Setenv("GOGC", "80") // the runtime read it at start; Main must leave it alone
	if code := Main("test", []string{"run", "--log-level", "warn"}, "run", cmds); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if seen != 100 {
		t.Errorf("with GOGC set, GC percent while running: %d, want it untouched (100)", seen)
	}
	if code := Main("test", []string{"run", "--no-such-flag"}, "run", cmds); code != 2 {
		t.Errorf("unknown flag: exit code %d, want 2", code)
	}
}
