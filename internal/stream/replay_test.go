package stream_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// Replay on real Kafka: matching dead letters go back to their source topic with
// their original key, value, headers and timestamp; others stay; a second run
// with the same group replays nothing again.
func TestReplayReinjectsMatchingDeadLettersOnce(t *testing.T) {
	brokers := testenv.Kafka(t)
	tp := testenv.Topics(t, brokers, 2)
	w, err := stream.NewWriter(stream.WriterConfig{Cluster: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// The raw records arrived three hours ago, and failed an hour later.
	arrived := time.Now().Add(-3 * time.Hour).Truncate(time.Millisecond)
	src := func(key string) kafka.Message {
		return kafka.Message{Topic: tp.Raw, Partition: 1, Offset: 7, Key: []byte(key), Value: []byte("value-" + key), Time: arrived,
			Headers: []kafka.Header{{Key: stream.HeaderContentType, Value: []byte(stream.AvroContentType)}}}
	}
	now := arrived.Add(time.Hour)
	dead := []kafka.Message{
		stream.DeadLetter(tp.DeadLetter, "enricher", "unknown-fingerprint", errors.New("unknown"), src("a"), now),
		stream.DeadLetter(tp.DeadLetter, "enricher", "invalid", errors.New("bad"), src("b"), now),
		stream.DeadLetter(tp.DeadLetter, "enricher", "unknown-fingerprint", errors.New("unknown"), src("c"), now),
		stream.DeadLetter(tp.DeadLetter, "sink", "undecodable", errors.New("x"), src("d"), now),
	}
	if err := w.WriteMessages(context.Background(), dead...); err != nil {
		t.Fatal(err)
	}
	for _, m := range testenv.ReadAll(t, brokers, tp.DeadLetter) {
		if !m.Time.Equal(arrived) {
			t.Errorf("dead letter %q has timestamp %v, want its raw record's %v", m.Key, m.Time, arrived)
		}
	}
	var cfg stream.ReplayConfig
	testenv.Configure(t, cfg.Register, append(testenv.KafkaArgs(brokers, tp), "--group", testenv.Unique("replay"),
		"--stage", "enricher", "--reason", "unknown-fingerprint", "--idle", "2s")...)
	log := slog.New(slog.DiscardHandler)

	dry := cfg
	dry.DryRun = true
	if st, err := stream.Replay(context.Background(), dry, log); err != nil || st.Replayed != 2 || st.Read != 4 {
		t.Fatalf("dry run = %v, %v; want 4 read, 2 to replay", st, err)
	}
	if got := testenv.ReadAll(t, brokers, tp.Raw); len(got) != 0 {
		t.Fatalf("a dry run wrote %d records", len(got))
	}
	st, err := stream.Replay(context.Background(), cfg, log)
	if err != nil || st.Read != 4 || st.Replayed != 2 || st.Skipped != 2 {
		t.Fatalf("Replay = %v, %v; want 4 read (the dry run committed nothing), 2 replayed, 2 skipped", st, err)
	}
	got := testenv.ReadAll(t, brokers, tp.Raw)
	keys := map[string]bool{}
	for _, m := range got {
		keys[string(m.Key)] = true
		if string(m.Value) != "value-"+string(m.Key) || stream.Header(m, stream.HeaderContentType) != stream.AvroContentType ||
			stream.Header(m, stream.HeaderStage) != "" || stream.Header(m, stream.HeaderSourceTime) != "" || stream.Header(m, stream.HeaderReplayedFrom) == "" {
			t.Errorf("replayed record %q: value %q headers %v", m.Key, m.Value, m.Headers)
		}
		if !m.Time.Equal(arrived) {
			t.Errorf("replayed record %q has timestamp %v, want the original %v", m.Key, m.Time, arrived)
		}
	}
	if len(got) != 2 || !keys["a"] || !keys["c"] {
		t.Errorf("raw topic holds %v, want the two unknown-fingerprint records a and c", keys)
	}
	if st, err := stream.Replay(context.Background(), cfg, log); err != nil || st.Read != 0 {
		t.Errorf("second Replay = %v, %v; want nothing left to read", st, err)
	}
}
