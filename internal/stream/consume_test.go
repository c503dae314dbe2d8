package stream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
)

// fakeSource serves a slice of messages, then blocks until its context ends. It
// logs fetches, handler calls and commits in one sequence.
type fakeSource struct {
	mu        sync.Mutex
	msgs      []kafka.Message
	next      int
	fetchErr  error // returned once the messages are used up, instead of blocking
	events    []string
	committed []int64
	onCommit  func(committed []int64)
}

func newSource(n int) *fakeSource {
	s := &fakeSource{}
	for i := range n {
		s.msgs = append(s.msgs, kafka.Message{Topic: "raw", Partition: 0, Offset: int64(i), Value: []byte(fmt.Sprint(i))})
	}
	return s
}

func (s *fakeSource) FetchMessage(ctx context.Context) (kafka.Message, error) {
	s.mu.Lock()
	if s.next < len(s.msgs) {
		m := s.msgs[s.next]
		s.next++
		s.mu.Unlock()
		return m, nil
	}
	err := s.fetchErr
	s.mu.Unlock()
	if err != nil {
		return kafka.Message{}, err
	}
	<-ctx.Done()
	return kafka.Message{}, ctx.Err()
}

func (s *fakeSource) CommitMessages(ctx context.Context, msgs ...kafka.Message) error {
	s.mu.Lock()
	offs := offsets(msgs)
	s.events = append(s.events, fmt.Sprint("commit ", offs))
	s.committed = append(s.committed, offs...)
	all := append([]int64(nil), s.committed...)
	s.mu.Unlock()
	if s.onCommit != nil {
		s.onCommit(all)
	}
	return nil
}

func (s *fakeSource) log(e string) { s.mu.Lock(); s.events = append(s.events, e); s.mu.Unlock() }

func (s *fakeSource) snapshot() ([]string, []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...), append([]int64(nil), s.committed...)
}

func offsets(msgs []kafka.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Offset
	}
	return out
}

// consume runs Consume in the background and returns its result, failing the test
// if it does not return within a few seconds.
func consume(t *testing.T, ctx context.Context, src stream.GroupReader, b stream.Batching, log *slog.Logger, h stream.Handler) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- stream.Consume(ctx, stream.MemberOf(src, b, log), log, h) }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Consume did not return")
		return nil
	}
}

func TestConsumeRetriesAFailedBatchAndCommitsItOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newSource(5)
	src.onCommit = func(all []int64) {
		if len(all) >= 5 {
			cancel() // everything is committed: shut down
		}
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	calls := 0
	handler := func(ctx context.Context, batch []kafka.Message) error {
		calls++
		src.log(fmt.Sprint("handle ", offsets(batch)))
		if calls == 1 {
			return errors.New("clickhouse unavailable")
		}
		return nil
	}
	err := consume(t, ctx, src, stream.Batching{MaxRecords: 3, MaxWait: 20 * time.Millisecond}, log, handler)
	if err != nil {
		t.Fatalf("Consume after cancel = %v, want nil", err)
	}
	events, committed := src.snapshot()
	want := []string{
		"handle [0 1 2]", // fails
		"handle [0 1 2]", // the same batch again, nothing new fetched
		"commit [0 1 2]",
		"handle [3 4]",
		"commit [3 4]",
	}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events =\n%q\nwant\n%q", events, want)
	}
	if wantOffs := []int64{0, 1, 2, 3, 4}; !reflect.DeepEqual(committed, wantOffs) {
		t.Errorf("committed offsets %v, want each of %v exactly once", committed, wantOffs)
	}
	if !strings.Contains(logs.String(), "clickhouse unavailable") {
		t.Errorf("the handler error was not logged: %s", logs.String())
	}
}

func TestConsumeDrainsTheBatchInHandWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newSource(2)
	calls := 0
	handler := func(hctx context.Context, batch []kafka.Message) error {
		calls++
		src.log(fmt.Sprint("handle ", offsets(batch)))
		if calls < 3 {
			return errors.New("downstream down")
		}
		cancel() // shutdown begins while the batch is being handled
		if hctx.Err() != nil {
			t.Errorf("the handler's context ended with the parent: %v", hctx.Err())
		}
		return nil
	}
	err := consume(t, ctx, src, stream.Batching{MaxRecords: 10, MaxWait: 20 * time.Millisecond}, slog.New(slog.DiscardHandler), handler)
	if err != nil {
		t.Fatalf("Consume = %v, want nil after cancel", err)
	}
	events, committed := src.snapshot()
	want := []string{"handle [0 1]", "handle [0 1]", "handle [0 1]", "commit [0 1]"}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events = %q, want %q (no commit before the handler succeeds)", events, want)
	}
	if !reflect.DeepEqual(committed, []int64{0, 1}) {
		t.Errorf("committed %v, want [0 1]", committed)
	}
}

func TestConsumeReturnsNilWhenCancelledWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	src := newSource(0)
	time.AfterFunc(50*time.Millisecond, cancel)
	err := consume(t, ctx, src, stream.Batching{}, slog.New(slog.DiscardHandler), func(context.Context, []kafka.Message) error {
		t.Error("handler called without messages")
		return nil
	})
	if err != nil {
		t.Errorf("Consume = %v, want nil", err)
	}
}

func TestConsumeRetriesFetchErrorsAndGoesOnWhenTheBrokerIsBack(t *testing.T) {
	src := newSource(1)
	src.fetchErr = errors.New("dial tcp: connection refused")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var handled []int64
	done := make(chan error, 1)
	go func() {
		log := slog.New(slog.DiscardHandler)
		done <- stream.Consume(ctx, stream.MemberOf(src, stream.Batching{MaxWait: 20 * time.Millisecond}, log), log, func(_ context.Context, b []kafka.Message) error {
			mu.Lock()
			handled = append(handled, offsets(b)...)
			mu.Unlock()
			return nil
		})
	}()
	time.Sleep(300 * time.Millisecond) // several failed fetches with backoff
	select {
	case err := <-done:
		t.Fatalf("Consume returned %v on a fetch error; it must wait for the broker", err)
	default:
	}
	// The broker is back with one more record.
	src.mu.Lock()
	src.fetchErr = nil
	src.msgs = append(src.msgs, kafka.Message{Topic: "raw", Offset: 1, Value: []byte("1")})
	src.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, committed := src.snapshot(); reflect.DeepEqual(committed, []int64{0, 1}) {
			break
		}
		if time.Now().After(deadline) {
			_, committed := src.snapshot()
			t.Fatalf("committed %v, want [0 1] once fetches succeed again", committed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Consume = %v after cancel, want nil", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(handled, []int64{0, 1}) {
		t.Errorf("handled %v, want [0 1]: nothing skipped, nothing twice", handled)
	}
}

// With Batching.Idle a batch ends once no record came for that long, and Next
// says when none came at all: what the dead-letter replay stops on.
func TestIdleEndsTheBatchAndThenNext(t *testing.T) {
	src := stream.MemberOf(newSource(3), stream.Batching{MaxRecords: 10, Idle: 50 * time.Millisecond}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := src.Next(ctx)
	if err != nil || !reflect.DeepEqual(offsets(b.Messages), []int64{0, 1, 2}) {
		t.Fatalf("Next = %v, %v; want the 3 records, then the batch ended by the pause", b, err)
	}
	if _, err := src.Next(ctx); !errors.Is(err, stream.ErrIdle) || ctx.Err() != nil {
		t.Errorf("Next on an idle topic = %v, want ErrIdle", err)
	}
}
