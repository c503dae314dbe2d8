// Package privacy turns raw events into clean ones. It is pure: given the same raw
// record, pseudonymizer and geo lookup it returns the same clean record, and it does
// no I/O.
//
// The policy is built from the "privacy" attribute of every field of every raw schema
// and fails closed: New returns an error naming the schema and field when a raw field
// has no treatment, an unknown one, no "about" attribute, when a kept string names no
// value domain, or when the outputs of the treatments do not match the fields of the
// clean schema exactly. A field therefore cannot reach the clean topic without
// someone having decided, in the schema, what happens to it.
//
// It fails closed for values too: no string is kept as sent. A kept string must be
// a value of its declared domain (schemas/domains.json: a vocabulary, a UUID, a
// release number, a hash, or an id of the service catalog); anything else becomes
// "other", and the replacement is counted per field (KindPolicy.Replaced). Event ids
// that are not UUIDs are refused earlier, by validation.
//
// Codecs and containers are kept as families (schemas/domains.json): a video's
// codec as h264, modern (HEVC, AV1, VP9) or legacy, its container as mkv, mp4 or
// legacy, any audio codec as lossy or lossless. With a video's running time kept
// only up to "an hour or more", its size withheld and a three-step bitrate ladder,
// this is what the re-identification audit (package audit) requires of the media
// fields together.
//
// Pseudonyms are scoped by consent category (playback, crash, marketing; each kind
// outside every category has its own scope): the same installation has unrelated
// pseudonyms in its playback and its crash events, so what a user allowed in one
// category cannot be joined to another.
//
// Treatments:
//
//	keep                  an enum, number or boolean as sent; a string mapped onto its domain, else "other"
//	drop                  removed
//	pseudonymize          keyed HMAC under a rotating, destroyable key (see Pseudonymizer)
//	generalize:<rule>     replaced by a coarse bucket; rules in generalize.go
//	geo:ip, geo:zip       turned into country and coarse region, then removed
//	hosted-only           kept when the service catalog holds the id, emptied otherwise
package privacy
