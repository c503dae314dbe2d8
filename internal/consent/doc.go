// Package consent keeps each installation's opt-outs (playback, crash, marketing)
// in a compacted Kafka topic keyed by installation id, and follows that topic into
// an in-memory Store. API serves PUT and GET /v1/consent/{installation}, which
// `producer serve` mounts for operators and for the installation's own
// credential.
//
// The value of a record is JSON, {"installation_id", "opt_out": [...],
// "updated_at"}; a tombstone (no value) means no opt-outs. Compaction keeps the
// latest record per installation, so reading the topic from the start yields the
// current state.
//
// The enricher loads the whole topic before it processes a single event and then
// keeps following it, and checks consent when it enriches, not when the event was
// produced: an event produced before its installation opted out but enriched after
// the enricher learned of the opt-out is dropped ("in flight"). Between an opt-out
// being written and the enricher reading it there is a short window (the fetch
// wait, 100ms by default) in which events still pass.
package consent
