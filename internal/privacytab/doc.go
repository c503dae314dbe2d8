// Package privacytab builds the privacy tab: the page that tells people, for every
// event kind the pipeline accepts, what each field is, what the enricher does with
// it, whether they can turn the event off, and a before/after example.
//
// Nothing in the tab is written by hand about a particular field or kind, and the
// tab states nothing the code does not enforce or measure. What a kind is called,
// its description and how it can be turned off are attributes of its raw schema
// ("title", "doc", "consent" with "consent_setting" or "consent_reason"); Build
// fails for a kind without them. Build reads the live schema
// registry and compiles the real privacy policy. Each field's rule is the
// treatment's description (privacy.Describe) completed from the compiled policy:
// a kept string's value domain with every value and the spellings that become it,
// and that any other value becomes "other"; a generalization's buckets, read from
// the tables the rule uses (privacy.Buckets); a pseudonym's scope
// (KindPolicy.PseudonymScope), key epoch and retention. The promise is derived the
// same way: the fields removed and located, what a kept string can hold, the
// pseudonyms' scopes and lifetime, the consent categories, and the
// re-identification audit's recorded worst-seed figures (audit.Recorded), which
// Build refuses to state when they were measured under another policy
// (audit.Digest). The "what can be linked" section groups the kinds by pseudonym
// scope.
//
// Each example is the schema's "example" values encoded as a device would send
// them, decoded as the enricher decodes them, and passed through
// privacy.KindPolicy.Apply. If the policy rejects a schema, or a treatment
// produces a field the tab cannot account for, Build fails instead of publishing a
// page that disagrees with the pipeline.
//
// Example pseudonyms are computed by a real pseudonym.Store, but over a temporary
// key directory holding a demonstration key, never the enricher's keys; the page
// says so. The tab renders as HTML (Handler serves GET /privacy), JSON
// (GET /privacy.json) and Markdown (docs/privacy.md, `producer privacy`).
package privacytab
