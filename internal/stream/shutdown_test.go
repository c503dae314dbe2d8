package stream_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
)

// Once shutdown began, a batch whose handling fails is not retried: Consume
// returns at once with an error saying the batch was left uncommitted.
func TestConsumeMakesNoNewAttemptOnceShutdownBegan(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newSource(3)
	var calls atomic.Int32
	err := consume(t, ctx, src, stream.Batching{MaxRecords: 10, MaxWait: 20 * time.Millisecond}, slog.New(slog.DiscardHandler),
		func(context.Context, []kafka.Message) error {
			calls.Add(1)
			cancel() // the signal arrives while the write is failing
			return errors.New("dial tcp 127.0.0.1:9092: connection refused")
		})
	if err == nil || !strings.Contains(err.Error(), "3 records unhandled") || !errors.Is(err, stream.ErrDraining) {
		t.Errorf("Consume = %v, want the unhandled batch of 3 named, with ErrDraining", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("handler called %d times, want 1: no retry after the shutdown began", n)
	}
	if _, committed := src.snapshot(); len(committed) != 0 {
		t.Errorf("committed %v; an unhandled batch must stay uncommitted", committed)
	}
}

// A handler blocked on a service that does not answer has its context ended
// DrainTimeout after shutdown began.
func TestConsumeAbandonsAHandlerBlockedPastTheDrainTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newSource(1)
	blocked := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		log := slog.New(slog.DiscardHandler)
		done <- stream.Consume(ctx, stream.MemberOf(src, stream.Batching{MaxRecords: 10, MaxWait: 20 * time.Millisecond}, log), log,
			func(hctx context.Context, _ []kafka.Message) error {
				close(blocked)
				<-hctx.Done() // a broker that accepts the connection and never answers
				return hctx.Err()
			})
	}()
	<-blocked
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Consume = nil; the abandoned batch must be reported")
		}
	case <-time.After(stream.DrainTimeout + 10*time.Second):
		t.Fatal("Consume still draining long after DrainTimeout")
	}
	if _, committed := src.snapshot(); len(committed) != 0 {
		t.Errorf("committed %v of an abandoned batch", committed)
	}
}

// The backoff between attempts ends when the shutdown begins.
func TestRetryUnderADrainContextStopsWhenShutdownBegins(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	work, cancelWork := stream.DrainContext(parent)
	defer cancelWork()
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- stream.Retry(work, slog.New(slog.DiscardHandler), func() error {
			calls++
			if calls == 1 {
				time.AfterFunc(20*time.Millisecond, cancel) // during the first backoff
			}
			return errors.New("not leader for partition")
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, stream.ErrDraining) {
			t.Errorf("Retry = %v, want ErrDraining", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Retry went on after the shutdown began")
	}
	if calls > 2 {
		t.Errorf("%d attempts; at most the one in progress when the shutdown began may follow the first", calls)
	}
	if work.Err() != nil {
		t.Errorf("the drain context ended with its parent (%v); it must last DrainTimeout longer", work.Err())
	}
	if !stream.Draining(work) {
		t.Error("Draining(work) = false after the parent ended")
	}
}

type stuckCloser struct{ release chan struct{} }

func (c stuckCloser) Close() error { <-c.release; return nil }

func TestCloseGivesUpOnAClientThatDoesNotLetGo(t *testing.T) {
	c := stuckCloser{make(chan struct{})}
	defer close(c.release)
	done := make(chan error, 1)
	go func() { done <- stream.Close(c, "raw writer") }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "raw writer") {
			t.Errorf("Close = %v, want an error naming the writer", err)
		}
	case <-time.After(stream.CloseTimeout + 10*time.Second):
		t.Fatal("Close waited for a client that never closes")
	}
	if err := stream.Close(closerFunc(func() error { return nil }), "reader"); err != nil {
		t.Errorf("Close of a client that closes = %v", err)
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
