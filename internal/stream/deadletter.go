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
	HeaderContentType     = "content-type"
	HeaderFingerprint     = "schema-fingerprint"
	HeaderProducedBy      = "veil-produced-by"
)

// AvroContentType is the content type of every Avro record value in the pipeline.
const AvroContentType = "application/vnd.apache.avro+binary"

// DeadLetter builds the dead-letter record for src: the original key and value
// untouched, the original headers kept after new headers naming the stage, the error and
// where the record came from.
func DeadLetter(topic, stage, reason string, err error, src kafka.Message, now time.Time) kafka.Message {
	// The new headers come first: Header returns the first match, so a record
	// dead-lettered twice reports its latest failure.
	h := make([]kafka.Header, 0, len(src.Headers)+7)
	h = append(h,
		kafka.Header{Key: HeaderStage, Value: []byte(stage)},
		kafka.Header{Key: HeaderReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderError, Value: []byte(err.Error())},
		kafka.Header{Key: HeaderSourceTopic, Value: []byte(src.Topic)},
		kafka.Header{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(src.Partition))},
		kafka.Header{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(src.Offset, 10))},
		kafka.Header{Key: HeaderTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
	)
	h = append(h, src.Headers...)
	return kafka.Message{Topic: topic, Key: src.Key, Value: src.Value, Headers: h}
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
