package stream_test

import (
	"bytes"
	"errors"
	"flag"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/veiltelemetry/veil/internal/stream"
)

// This package has no golden files; it accepts -update so that the project-wide
// go test ./... -update runs.
var _ = flag.Bool("update", false, "no effect in this package")

func TestDeadLetterKeepsTheRecordAndSaysWhatWentWrong(t *testing.T) {
	src := kafka.Message{
		Topic: "telemetry.raw.v1", Partition: 3, Offset: 1234567890123,
		Key: []byte("event-1"), Value: []byte{0xC3, 0x01, 0xde, 0xad},
		Headers: []kafka.Header{
			{Key: stream.HeaderContentType, Value: []byte(stream.AvroContentType)},
			{Key: stream.HeaderFingerprint, Value: []byte("00112233445566ff")},
		},
	}
	origHeaders := len(src.Headers)
	now := time.Date(2026, 11, 24, 14, 19, 5, 123456789, time.FixedZone("CET", 3600))
	dl := stream.DeadLetter("telemetry.deadletter.v1", "enricher", "malformed", errors.New("malformed Avro body: 2 trailing bytes"), src, now)

	if dl.Topic != "telemetry.deadletter.v1" {
		t.Errorf("Topic = %q, want the dead-letter topic", dl.Topic)
	}
	if !bytes.Equal(dl.Key, src.Key) || !bytes.Equal(dl.Value, src.Value) {
		t.Errorf("key/value = %q/% x, want the original %q/% x", dl.Key, dl.Value, src.Key, src.Value)
	}
	if dl.Partition != 0 || dl.Offset != 0 {
		t.Errorf("dead letter carries partition %d offset %d; the writer must choose them", dl.Partition, dl.Offset)
	}
	want := []kafka.Header{
		{Key: stream.HeaderStage, Value: []byte("enricher")},
		{Key: stream.HeaderReason, Value: []byte("malformed")},
		{Key: stream.HeaderError, Value: []byte("malformed Avro body: 2 trailing bytes")},
		{Key: stream.HeaderSourceTopic, Value: []byte("telemetry.raw.v1")},
		{Key: stream.HeaderSourcePartition, Value: []byte("3")},
		{Key: stream.HeaderSourceOffset, Value: []byte("1234567890123")},
		{Key: stream.HeaderTime, Value: []byte("2026-11-24T13:19:05.123456789Z")},
		{Key: stream.HeaderContentType, Value: []byte(stream.AvroContentType)},
		{Key: stream.HeaderFingerprint, Value: []byte("00112233445566ff")},
	}
	if len(dl.Headers) != len(want) {
		t.Fatalf("dead letter has %d headers, want %d: %v", len(dl.Headers), len(want), dl.Headers)
	}
	for i, h := range want {
		if dl.Headers[i].Key != h.Key || !bytes.Equal(dl.Headers[i].Value, h.Value) {
			t.Errorf("header %d = %s: %q, want %s: %q", i, dl.Headers[i].Key, dl.Headers[i].Value, h.Key, h.Value)
		}
	}
	if got := stream.Header(dl, stream.HeaderReason); got != "malformed" {
		t.Errorf("Header(reason) = %q, want malformed", got)
	}
	if got := stream.Header(dl, "no-such-header"); got != "" {
		t.Errorf("Header of a missing key = %q, want empty", got)
	}
	if len(src.Headers) != origHeaders {
		t.Errorf("DeadLetter changed the source's headers to %v", src.Headers)
	}
	// A dead letter that fails again reports its latest failure.
	twice := stream.DeadLetter("dlq", "sink", "unloadable", errors.New("y"), dl, now)
	if got := stream.Header(twice, stream.HeaderStage); got != "sink" {
		t.Errorf("twice dead-lettered: Header(stage) = %q, want the latest, sink", got)
	}
	// A second dead letter of the same record does not see the first one's headers.
	again := stream.DeadLetter("dlq", "sink", "insert", errors.New("x"), src, now)
	if len(again.Headers) != len(want) {
		t.Errorf("second dead letter has %d headers, want %d", len(again.Headers), len(want))
	}
}

// A dead letter keeps the timestamp of the record it holds, so that its
// retention counts from when the record arrived, and says what it was in a
// header that a replay reads.
func TestDeadLetterKeepsTheSourceTimestamp(t *testing.T) {
	arrived := time.Date(2026, 11, 24, 13, 19, 5, 123_000_000, time.FixedZone("CET", 3600))
	src := kafka.Message{Topic: "telemetry.raw.v1", Partition: 1, Offset: 2, Value: []byte("v"), Time: arrived}
	failed := arrived.Add(5 * time.Hour)
	dl := stream.DeadLetter("dlq", "enricher", "invalid", errors.New("bad"), src, failed)
	if !dl.Time.Equal(arrived) {
		t.Errorf("dead letter timestamp = %v, want the source's %v", dl.Time, arrived)
	}
	if got := stream.Header(dl, stream.HeaderSourceTime); got != "2026-11-24T12:19:05.123Z" {
		t.Errorf("Header(source time) = %q, want the source's timestamp in UTC", got)
	}
	if got := stream.SourceTime(dl); !got.Equal(arrived) {
		t.Errorf("SourceTime(dead letter) = %v, want %v", got, arrived)
	}
	// A dead letter from before the header existed: its own timestamp is the
	// best there is.
	old := kafka.Message{Time: failed, Headers: []kafka.Header{{Key: stream.HeaderStage, Value: []byte("enricher")}}}
	if got := stream.SourceTime(old); !got.Equal(failed) {
		t.Errorf("SourceTime without the header = %v, want the record's timestamp %v", got, failed)
	}
	// A record that never had a timestamp (the collector's, refused by Kafka)
	// leaves the dead letter's to the writer.
	src.Time = time.Time{}
	dl = stream.DeadLetter("dlq", "collector", "refused", errors.New("x"), src, failed)
	if !dl.Time.IsZero() || stream.Header(dl, stream.HeaderSourceTime) != "" {
		t.Errorf("dead letter of a record without timestamp: time %v, source time header %q; want neither", dl.Time, stream.Header(dl, stream.HeaderSourceTime))
	}
}

func TestParseCompression(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    compress.Compression
		wantErr bool
	}{
		{"none turns compression off", "none", 0, false},
		{"gzip is accepted", "gzip", kafka.Gzip, false},
		{"snappy is accepted", "snappy", kafka.Snappy, false},
		{"lz4 is accepted", "lz4", kafka.Lz4, false},
		{"zstd is accepted", "zstd", kafka.Zstd, false},
		{"names are case-insensitive", "ZSTD", kafka.Zstd, false},
		{"an empty value means the lz4 default", "", kafka.Lz4, false},
		{"brotli is not a Kafka codec", "brotli", 0, true},
		{"a misspelling is rejected", "snapy", 0, true},
		{"a name with a space is rejected", "lz4 ", 0, true},
		{"off is not a synonym of none", "off", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stream.ParseCompression(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Errorf("ParseCompression(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseCompression(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
