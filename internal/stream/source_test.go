package stream_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// write writes n records keyed key-<from>... to topic and returns their keys.
func write(t *testing.T, c stream.Cluster, topic string, from, n int) []string {
	t.Helper()
	w, err := stream.NewWriter(stream.WriterConfig{Cluster: c, Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var keys []string
	var msgs []kafka.Message
	for i := from; i < from+n; i++ {
		k := fmt.Sprintf("key-%04d", i)
		keys = append(keys, k)
		msgs = append(msgs, kafka.Message{Key: []byte(k), Value: []byte("value-" + k)})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	return keys
}

// seen collects the keys handled, from any goroutine.
type seen struct {
	mu   sync.Mutex
	keys []string
}

func (s *seen) add(msgs []kafka.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.keys = append(s.keys, string(m.Key))
	}
}

func (s *seen) has(want []string) (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range want {
		if !slices.Contains(s.keys, k) {
			return false, fmt.Sprintf("%d keys handled, %s not among them", len(s.keys), k)
		}
	}
	return true, ""
}

func (s *seen) count(k string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, x := range s.keys {
		if x == k {
			n++
		}
	}
	return n
}

// consumeUntil runs Consume over src until cond holds, then stops it and
// closes src.
func consumeUntil(t *testing.T, src *stream.Source, handle stream.Handler, what string, cond func() (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- stream.Consume(ctx, src, slog.New(slog.DiscardHandler), handle) }()
	testenv.Eventually(t, time.Minute, what, cond)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Consume: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// A member reads the topic with its group; what it acknowledged is committed,
// so the next member of the group starts after it.
func TestMemberSourceResumesAfterWhatWasAcknowledged(t *testing.T) {
	c := testenv.Kafka(t)
	tp := testenv.Topics(t, c, 2)
	group := testenv.Unique("member")
	first := write(t, c, tp.Raw, 0, 20)
	var a seen
	log := slog.New(slog.DiscardHandler)
	b := stream.Batching{MaxRecords: 7, MaxWait: 50 * time.Millisecond}
	consumeUntil(t, stream.NewMember(c, group, tp.Raw, b, log), func(_ context.Context, msgs []kafka.Message) error {
		a.add(msgs)
		return nil
	}, "the first member handles every record", func() (bool, string) { return a.has(first) })

	second := write(t, c, tp.Raw, 20, 10)
	var bb seen
	consumeUntil(t, stream.NewMember(c, group, tp.Raw, b, log), func(_ context.Context, msgs []kafka.Message) error {
		bb.add(msgs)
		return nil
	}, "the next member handles the new records", func() (bool, string) { return bb.has(second) })
	for _, k := range first {
		if n := bb.count(k); n != 0 {
			t.Errorf("%s, acknowledged by the first member, was delivered again %d times", k, n)
		}
	}
}

// A follower loads a compacted topic whole without a group: Loaded closes only
// once every record present at the start was handled, and it goes on with
// what comes after.
func TestFollowerLoadsTheWholeTopicThenFollowsIt(t *testing.T) {
	c := testenv.Kafka(t)
	tp := testenv.Topics(t, c, 2)
	before := write(t, c, tp.Consent, 0, 30)
	log := slog.New(slog.DiscardHandler)
	src, err := stream.NewFollower(context.Background(), c, tp.Consent, log)
	if err != nil {
		t.Fatal(err)
	}
	var got seen
	loadedWith := make(chan bool, 1)
	go func() {
		<-src.Loaded()
		ok, _ := got.has(before)
		loadedWith <- ok
	}()
	var after []string
	consumeUntil(t, src, func(_ context.Context, msgs []kafka.Message) error {
		got.add(msgs)
		return nil
	}, "the follower handles what was written after it loaded", func() (bool, string) {
		select {
		case ok := <-loadedWith:
			if !ok {
				t.Fatal("Loaded closed before every record present at the start was handled")
			}
			after = write(t, c, tp.Consent, 30, 5)
		default:
		}
		if after == nil {
			return false, "not loaded yet"
		}
		return got.has(after)
	})
	// A second follower of a topic with empty partitions is loaded too.
	empty, err := stream.NewFollower(context.Background(), c, tp.DeadLetter, log)
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	select {
	case <-empty.Loaded():
	case <-time.After(time.Minute):
		t.Fatal("a follower of an empty topic never became loaded")
	}
	if _, err := stream.NewFollower(context.Background(), c, testenv.Unique("missing"), log); err == nil {
		t.Error("NewFollower of a topic that does not exist succeeded")
	}
}

// An assigned source reads the partitions its generation assigns, each from
// the committed offset after Prepare, and commits through the generation: the
// next instance of the group prepares each partition at the offset after the
// last acknowledged record, and handles only what came after.
func TestAssignedSourceResumesEachPartitionAtTheCommittedOffset(t *testing.T) {
	c := testenv.Kafka(t)
	tp := testenv.Topics(t, c, 3)
	group := testenv.Unique("assigned")
	log := slog.New(slog.DiscardHandler)
	b := stream.Batching{MaxRecords: 5, MaxWait: 50 * time.Millisecond}
	var mu sync.Mutex
	var prepared []stream.Assignment
	lags := map[int]int64{}
	cfg := stream.AssignedConfig{Group: group, Topic: tp.Clean,
		Prepare: func(_ context.Context, a stream.Assignment) error {
			mu.Lock()
			defer mu.Unlock()
			prepared = append(prepared, a)
			return nil
		},
		Lag: func(p int, n int64) { mu.Lock(); lags[p] = n; mu.Unlock() },
	}
	first := write(t, c, tp.Clean, 0, 30)
	src, err := stream.NewAssigned(c, cfg, b, log)
	if err != nil {
		t.Fatal(err)
	}
	var a seen
	consumeUntil(t, src, func(_ context.Context, msgs []kafka.Message) error {
		a.add(msgs)
		return nil
	}, "the first instance handles every record", func() (bool, string) { return a.has(first) })
	mu.Lock()
	if len(prepared) != 3 {
		t.Errorf("prepared %v, want the 3 partitions once", prepared)
	}
	for _, p := range prepared {
		if p.Offset != kafka.FirstOffset || p.Topic != tp.Clean {
			t.Errorf("a new group prepared %+v, want the first offset of %s", p, tp.Clean)
		}
	}
	if len(lags) == 0 {
		t.Error("no partition's lag was reported")
	}
	prepared = nil
	mu.Unlock()

	// Where each partition ends now: the committed offsets must be these.
	ends := map[int]int64{}
	for _, m := range testenv.ReadAll(t, c, tp.Clean) {
		ends[m.Partition] = max(ends[m.Partition], m.Offset+1)
	}
	second := write(t, c, tp.Clean, 30, 12)
	src, err = stream.NewAssigned(c, cfg, b, log)
	if err != nil {
		t.Fatal(err)
	}
	var bb seen
	consumeUntil(t, src, func(_ context.Context, msgs []kafka.Message) error {
		bb.add(msgs)
		return nil
	}, "the next instance handles the new records", func() (bool, string) { return bb.has(second) })
	for _, k := range first {
		if n := bb.count(k); n != 0 {
			t.Errorf("%s, acknowledged by the first instance, was delivered again %d times", k, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range prepared {
		if want, ok := ends[p.Partition]; ok && p.Offset != want {
			t.Errorf("partition %d prepared at offset %d, want %d: the offset after the last acknowledged record", p.Partition, p.Offset, want)
		}
	}
}

// A rebalance waits for the batch in hand: when a second instance joins, the
// first sees its batch's context end, and no partition is prepared for the new
// generation before the first gave its batch back. Afterwards the two share
// the partitions and together handle every record.
func TestAssignedSourceRebalancesOnceTheBatchInHandIsGivenBack(t *testing.T) {
	c := testenv.Kafka(t)
	tp := testenv.Topics(t, c, 4)
	group := testenv.Unique("rebalance")
	log := slog.New(slog.DiscardHandler)
	b := stream.Batching{MaxRecords: 3, MaxWait: 50 * time.Millisecond}
	var mu sync.Mutex
	var events []string
	note := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
	cfg := func(name string) stream.AssignedConfig {
		return stream.AssignedConfig{Group: group, Topic: tp.Clean, Prepare: func(_ context.Context, a stream.Assignment) error {
			note(fmt.Sprintf("%s prepares generation %d", name, a.Generation))
			return nil
		}}
	}
	write(t, c, tp.Clean, 0, 8)
	a, err := stream.NewAssigned(c, cfg("a"), b, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	held, err := a.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := held.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// a holds its batch; b joins.
	bsrc, err := stream.NewAssigned(c, cfg("b"), b, log)
	if err != nil {
		t.Fatal(err)
	}
	defer bsrc.Close()
	var got seen
	bdone := make(chan error, 1)
	go func() {
		bdone <- stream.Consume(ctx, bsrc, log, func(_ context.Context, msgs []kafka.Message) error { got.add(msgs); return nil })
	}()
	select {
	case <-held.Context().Done():
	case <-ctx.Done():
		t.Fatal("the batch in hand's context did not end when another instance joined")
	}
	note("a gives its batch back")
	adone := make(chan error, 1)
	go func() {
		adone <- stream.Consume(ctx, a, log, func(_ context.Context, msgs []kafka.Message) error { got.add(msgs); return nil })
	}()
	more := write(t, c, tp.Clean, 8, 40)
	testenv.Eventually(t, time.Minute, "the two instances handle every new record", func() (bool, string) { return got.has(more) })
	cancel()
	<-adone
	<-bdone
	mu.Lock()
	defer mu.Unlock()
	back := slices.Index(events, "a gives its batch back")
	for _, e := range events[:back] {
		if e != events[0] { // a preparing its first generation's partitions
			t.Errorf("%q before a gave its batch back: the new generation did not wait (%q)", e, events)
		}
	}
	if !slices.ContainsFunc(events[back:], func(e string) bool { return strings.HasPrefix(e, "b prepares") }) {
		t.Errorf("b never got a partition: %q", events)
	}
}
