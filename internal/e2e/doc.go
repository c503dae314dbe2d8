// Package e2e runs the whole pipeline — simulator, enricher, sink — in-process
// against the real Kafka broker and ClickHouse server that scripts/test starts, and
// checks what analysts would see: every event exactly once, and no identifier. It
// also runs Avro Java, the reference implementation, as a producer posting to the
// collector and as a consumer of the clean topic.
package e2e
