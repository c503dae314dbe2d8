// Package enricher is the privacy stage: it consumes raw events from the raw topic
// in a consumer group, applies the privacy policy (package privacy) and writes clean
// events to the clean topic. Records it cannot decode or clean go to the dead-letter
// topic with headers naming the stage, the error and their origin. A record that
// decodes but fails later (invalid, or the policy failed) is dead-lettered with the
// fields the policy drops blanked, and a header naming them (veil-redacted); one
// that does not decode is dead-lettered as read: it may hold anything, and only the
// dead-letter topic's retention, no longer than the raw topic's, bounds it.
//
// The enricher also keeps the pseudonym keys: it rotates them at start and every
// --key-rotate-every (package pseudonym), so that keys past the retention are
// destroyed without anyone running `enricher keys rotate`.
//
// Delivery: at-least-once. A batch's offsets are committed only after every clean
// and dead-letter record of the batch was acknowledged by all in-sync replicas
// (stream.Consume). A crash between the write and the commit writes the batch
// again; clean records are keyed by event id so the copies land in the same clean
// partition, where the sink removes them. No raw record is ever skipped: a record
// that fails is dead-lettered, and a failing write stops the partition instead of
// moving past it.
//
// Clean records are keyed by event id, not by installation: the key of the clean
// topic must carry no identifier, and keying by event id puts every copy of an
// event in one partition, which is what the sink's deduplication relies on. The
// partition is hash(event id) modulo the partition count read at start
// (stream.EventIDBalancer), so incomplete writer metadata cannot split copies.
//
// Events of a category an installation opted out of (package consent) are dropped
// when they are enriched, whenever they were produced; so are events whose
// required flag is false (an integration event without user_enabled).
package enricher
