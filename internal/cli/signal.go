package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Exit codes of a process ended by a signal without draining: 128 plus the
// signal's number, as a shell reports a process killed by that signal.
const (
	ExitInterrupt = 128 + int(syscall.SIGINT)  // 130
	ExitTerminate = 128 + int(syscall.SIGTERM) // 143
)

// Interrupted is the cause of a context NotifyContext cancelled: the signal
// that began the shutdown. context.Cause(ctx) returns it.
type Interrupted struct{ Signal os.Signal }

func (e Interrupted) Error() string { return "interrupted by " + signalName(e.Signal) }

// NotifyContext returns a context that the first SIGINT or SIGTERM cancels,
// with an Interrupted cause. The command then drains: it finishes what can
// still finish within a couple of seconds, abandons the rest and returns. A
// second signal ends the process at once, without draining, with exit code
// ExitInterrupt (130) or ExitTerminate (143). stop releases the signals; a
// signal after it has its default effect.
func NotifyContext(parent context.Context, log *slog.Logger) (ctx context.Context, stop func()) {
	return notifyContext(parent, log, osSignals(), false)
}

// signals is where a process's SIGINT and SIGTERM come from and how it exits:
// the operating system's in production, a channel and a recorder in tests.
type signals struct {
	notify func() (<-chan os.Signal, func()) // starts delivery; the func stops it
	exit   func(code int)
	stderr io.Writer
}

func osSignals() signals {
	return signals{
		notify: func() (<-chan os.Signal, func()) {
			ch := make(chan os.Signal, 2)
			signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
			return ch, func() { signal.Stop(ch) }
		},
		exit:   os.Exit,
		stderr: os.Stderr,
	}
}

// notifyContext is NotifyContext over sig. With immediate, the first signal
// already exits: for commands that hold nothing a shutdown must drain.
func notifyContext(parent context.Context, log *slog.Logger, sig signals, immediate bool) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch, release := sig.notify()
	done := make(chan struct{})
	stopped := func() bool { // stop wins over a signal that is ready at the same time
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	go func() {
		var first os.Signal
		select {
		case first = <-ch:
		case <-done:
			return
		}
		if stopped() {
			return
		}
		if immediate {
			fmt.Fprintf(sig.stderr, "%s: exiting\n", Interrupted{first})
			sig.exit(exitCode(first))
			return
		}
		log.Warn("shutting down: finishing what can finish within seconds; a second signal exits at once", "signal", signalName(first))
		cancel(Interrupted{first})
		select {
		case s := <-ch:
			if stopped() {
				return
			}
			fmt.Fprintf(sig.stderr, "%s again: exiting at once without draining (exit code %d)\n", Interrupted{s}, exitCode(s))
			sig.exit(exitCode(s))
		case <-done:
		}
	}()
	return ctx, sync.OnceFunc(func() {
		release()
		close(done)
		cancel(context.Canceled)
	})
}

func exitCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return ExitInterrupt
}

func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}
