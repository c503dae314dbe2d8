package stream

import (
	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/schemas"
)

// RecordHeaders are the headers of every Avro record a stage writes: the content
// type, the writer schema's fingerprint and the stage (collector, simulator,
// enricher...). They carry no identifier and no time. Writers may share the
// returned slice between records: kafka-go only reads it.
func RecordHeaders(s *schemas.Schema, stage string) []kafka.Header {
	return []kafka.Header{
		{Key: HeaderContentType, Value: []byte(AvroContentType)},
		{Key: HeaderFingerprint, Value: []byte(s.FingerprintHex())},
		{Key: HeaderProducedBy, Value: []byte(stage)},
	}
}
