package cli

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"syscall"
	"testing"
	"time"
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

// A binary without a default command runs nothing when none is named: it
// prints its usage and exits 2 (0 for help), whatever flags follow.
func TestMainWithoutADefaultCommandRunsNothing(t *testing.T) {
	ran := false
	cmds := map[string]Command{"simulate": {Register: func(*flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
		return func(context.Context, *slog.Logger, io.Writer) error { ran = true; return nil }
	}}}
	for _, args := range [][]string{nil, {"--count", "5"}} {
		if code := Main("test", args, "", cmds); code != 2 || ran {
			t.Errorf("Main(%q) = %d, ran %v; want 2 and nothing run", args, code, ran)
		}
	}
	if code := Main("test", []string{"help"}, "", cmds); code != 0 || ran {
		t.Errorf("Main(help) = %d, ran %v; want 0 and nothing run", code, ran)
	}
}

// fakeSignals delivers the signals a test sends and records the exit code the
// process would have ended with.
type fakeSignals struct {
	ch     chan os.Signal
	exited chan int
}

func newFakeSignals() *fakeSignals {
	return &fakeSignals{ch: make(chan os.Signal, 2), exited: make(chan int, 1)}
}

func (f *fakeSignals) signals() signals {
	return signals{
		notify: func() (<-chan os.Signal, func()) { return f.ch, func() {} },
		exit:   func(code int) { f.exited <- code },
		stderr: io.Discard,
	}
}

func blockingCommand(started chan<- context.Context, release <-chan struct{}, exitOnSignal bool) map[string]Command {
	return map[string]Command{"run": {ExitOnSignal: exitOnSignal, Register: func(*flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
		return func(ctx context.Context, _ *slog.Logger, _ io.Writer) error {
			started <- ctx
			<-release
			return context.Cause(ctx)
		}
	}}}
}

// The first signal cancels the command's context with the signal as its cause;
// a command that then returns an error exits 1. A second signal, while the
// first shutdown is still blocked, exits at once with 128 + the signal's number.
func TestFirstSignalCancelsAndSecondExitsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		second os.Signal
		code   int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(signalName(tc.second), func(t *testing.T) {
			f := newFakeSignals()
			started, release := make(chan context.Context, 1), make(chan struct{})
			code := make(chan int, 1)
			go func() {
				code <- runMain("test", []string{"--log-level", "error"}, "run", blockingCommand(started, release, false), f.signals())
			}()
			ctx := <-started
			f.ch <- syscall.SIGINT
			<-ctx.Done()
			var intr Interrupted
			if !errors.As(context.Cause(ctx), &intr) || intr.Signal != syscall.SIGINT {
				t.Fatalf("cause of the cancelled context: %v, want Interrupted{SIGINT}", context.Cause(ctx))
			}
			select {
			case c := <-f.exited:
				t.Fatalf("the first signal exited (code %d); it must only cancel", c)
			case <-time.After(100 * time.Millisecond):
			}
			f.ch <- tc.second // the command is still blocked in its shutdown
			select {
			case c := <-f.exited:
				if c != tc.code {
					t.Errorf("second signal %v: exit code %d, want %d", tc.second, c, tc.code)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the second signal did not exit")
			}
			close(release)
			if c := <-code; c != 1 {
				t.Errorf("a command interrupted with an error returned exit code %d, want 1", c)
			}
		})
	}
}

// A command with nothing to drain exits on the first signal.
func TestExitOnSignalExitsOnTheFirstSignal(t *testing.T) {
	f := newFakeSignals()
	started, release := make(chan context.Context, 1), make(chan struct{})
	defer close(release)
	go runMain("test", []string{"--log-level", "error"}, "run", blockingCommand(started, release, true), f.signals())
	<-started
	f.ch <- syscall.SIGTERM
	select {
	case c := <-f.exited:
		if c != ExitTerminate {
			t.Errorf("exit code %d, want %d", c, ExitTerminate)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first signal did not exit a command marked ExitOnSignal")
	}
}

// After the command returned, signals are no longer turned into exits: the
// goroutine watching them is gone.
func TestStopEndsTheSignalWatch(t *testing.T) {
	f := newFakeSignals()
	ctx, stop := notifyContext(context.Background(), slog.New(slog.DiscardHandler), f.signals(), false)
	stop()
	if ctx.Err() == nil {
		t.Error("stop left the context running")
	}
	f.ch <- syscall.SIGINT
	f.ch <- syscall.SIGINT
	select {
	case c := <-f.exited:
		t.Errorf("signals after stop exited with %d", c)
	case <-time.After(100 * time.Millisecond):
	}
}
