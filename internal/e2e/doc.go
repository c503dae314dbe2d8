// Package e2e runs the whole pipeline — simulator, enricher, sink — in-process
// against the real Kafka broker and ClickHouse server that scripts/test starts, and
// checks what analysts would see: every event exactly once, and no identifier. It
// also runs Avro Java, the reference implementation, as a producer posting to the
// collector and as a consumer of the clean topic. And it runs the built binaries
// against services that are down or hang and interrupts them, checking that each
// stops, says what it left undone and exits with the documented code; those tests
// need no service.
package e2e
