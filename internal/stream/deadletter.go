package stream

import (
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Header names on dead-letter records.
const (
	HeaderStage           = "veil-stage"            // collector, enricher or sink
	HeaderError           = "veil-error"            // what was wrong, for people
	HeaderReason          = "veil-reason"           // a short, stable reason code, for metrics and replay
	HeaderSourceTopic     = "veil-source-topic"     // where the record was read
	HeaderSourcePartition = "veil-source-partition" // its partition
	HeaderSourceOffset    = "veil-source-offset"    // its offset
	HeaderTime            = "veil-dead-lettered-at" // RFC 3339, when it was dead-lettered
	HeaderSourceTime      = "veil-source-time"      // RFC 3339, its Kafka timestamp where it was read (absent when it had none)
	HeaderRedacted        = "veil-redacted"         // fields blanked in the value before it was dead-lettered, comma-separated
	HeaderReplayedFrom    = "veil-replayed-from"    // on a record Replay wrote back: "<dead-letter topic>/<partition>/<offset>"
	HeaderContentType     = "content-type"
	HeaderFingerprint     = "schema-fingerprint"
	HeaderProducedBy      = "veil-produced-by"
)

// AvroContentType is the content type of every Avro record value in the pipeline.
const AvroContentType = "application/vnd.apache.avro+binary"

// DeadLetter builds the dead-letter record for src: the original key and value
// untouched, the original headers kept after new headers naming the stage, the error and
// where the record came from.
//
// The dead letter keeps src's timestamp, also recorded in HeaderSourceTime, so
// that the dead-letter topic's retention, which is no longer than the raw topic's,
// counts from when the record first arrived rather than from when it failed, and a
// replay can write it back with its original time. A src without a timestamp (the
// collector's, never written) is stamped by the writer.
func DeadLetter(topic, stage, reason string, err error, src kafka.Message, now time.Time) kafka.Message {
	// The new headers come first: Header returns the first match, so a record
	// dead-lettered twice reports its latest failure.
	h := make([]kafka.Header, 0, len(src.Headers)+8)
	h = append(h,
		kafka.Header{Key: HeaderStage, Value: []byte(stage)},
		kafka.Header{Key: HeaderReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderError, Value: []byte(err.Error())},
		kafka.Header{Key: HeaderSourceTopic, Value: []byte(src.Topic)},
		kafka.Header{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(src.Partition))},
		kafka.Header{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(src.Offset, 10))},
		kafka.Header{Key: HeaderTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
	)
	if !src.Time.IsZero() {
		h = append(h, kafka.Header{Key: HeaderSourceTime, Value: []byte(src.Time.UTC().Format(time.RFC3339Nano))})
	}
	h = append(h, src.Headers...)
	return kafka.Message{Topic: topic, Key: src.Key, Value: src.Value, Headers: h, Time: src.Time}
}

// Original is the inverse of DeadLetter: the record a dead letter m holds, to
// be written back where it came from (its HeaderSourceTopic), with its key,
// value (as redacted, if it was), headers as they were before it was
// dead-lettered and timestamp (SourceTime), plus a HeaderReplayedFrom naming
// the dead letter. A record replayed before loses its earlier
// HeaderReplayedFrom.
func Original(m kafka.Message) kafka.Message {
	h := make([]kafka.Header, 0, len(m.Headers))
	for _, x := range m.Headers {
		switch x.Key {
		case HeaderStage, HeaderReason, HeaderError, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset,
			HeaderTime, HeaderSourceTime, HeaderReplayedFrom:
			continue
		}
		h = append(h, x)
	}
	from := m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)
	h = append(h, kafka.Header{Key: HeaderReplayedFrom, Value: []byte(from)})
	return kafka.Message{Topic: Header(m, HeaderSourceTopic), Key: m.Key, Value: m.Value, Headers: h, Time: SourceTime(m)}
}

// SourceTime returns the timestamp m had before it was dead-lettered: its
// HeaderSourceTime, or else m's own timestamp (dead letters written before the
// header existed were stamped when they failed).
func SourceTime(m kafka.Message) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, Header(m, HeaderSourceTime)); err == nil {
		return t
	}
	return m.Time
}

// Header returns the value of the first header called key, or "".
func Header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
