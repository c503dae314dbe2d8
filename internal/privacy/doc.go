// Package privacy turns raw events into clean ones. It is pure: given the same raw
// record, pseudonymizer and geo lookup it returns the same clean record, and it does
// no I/O.
//
// The policy is built from the "privacy" attribute of every field of every raw schema
// and fails closed: New returns an error naming the schema and field when a raw field
// has no treatment, an unknown one, or when the outputs of the treatments do not match
// the fields of the clean schema exactly. A field therefore cannot reach the clean
// topic without someone having decided, in the schema, what happens to it.
//
// Treatments:
//
//	keep                  copied unchanged (non-identifying enumerations, versions)
//	drop                  removed
//	pseudonymize          keyed HMAC under a rotating, destroyable key (see Pseudonymizer)
//	generalize:<rule>     replaced by a coarse bucket; rules in generalize.go
//	geo:ip, geo:zip       turned into country and coarse region, then removed
//	hosted-only           kept for content the service hosts, emptied for local media
package privacy
