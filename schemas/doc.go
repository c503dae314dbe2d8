// Package schemas embeds the Avro schemas of every event kind, raw (as devices send
// them, identifiers included) and clean (what the enricher writes after the privacy
// policy), and encodes and decodes them in Avro single-object encoding:
//
//	0xC3 0x01 | 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema | Avro binary body
//
// The fingerprint is CRC-64-AVRO of the schema's Parsing Canonical Form as the Avro
// specification defines it (CanonicalForm, Rabin), so records interoperate with
// other Avro implementations; goavro's own canonical form differs for logical
// types. Records are written with the specification's fingerprint; the one Veil
// wrote before, of goavro's form (LegacyFingerprint), is still accepted on read.
// Both are unique across the schemas, or loading fails.
//
// A decoder selects the writer schema by fingerprint. An unknown fingerprint, a
// missing marker or a body that does not match its schema is an error
// (ErrUnknownFingerprint, ErrNotSingleObject, ErrMalformed), never a panic; the
// pipeline routes such records to the dead-letter topic.
//
// Each version of a schema is its own file (playback.v1.avsc, playback.v2.avsc...)
// with its own fingerprint, because goavro does not resolve a writer schema into a
// reader schema. Consumers map older versions forward in code.
//
// Every field of a raw schema carries a "privacy" attribute naming its treatment;
// the privacy package builds the enricher's policy from those attributes and
// refuses to start when one is missing or unknown. A raw schema also says what
// the privacy tab calls its kind and how it can be turned off: "title", "doc",
// "consent" (the opt-out category, or none) and "consent_setting" (the setting
// that turns the category off) or "consent_reason" (why it cannot be turned off
// on its own). Other packages take field types (Schema.Type, Schema.Symbols),
// defaults and attributes from the Registry instead of reading a schema's JSON.
package schemas
