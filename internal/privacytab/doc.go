// Package privacytab builds the privacy tab: the page that tells people, for every
// event kind the pipeline accepts, what each field is, what the enricher does with
// it, whether they can turn the event off, and a before/after example.
//
// Nothing in the tab is written by hand about a particular field. Build reads the
// live schema registry and compiles the real privacy policy; the descriptions come
// from the schemas' "doc" attributes and privacy.Describe, and each example is the
// schema's "example" values encoded as a device would send them, decoded as the
// enricher decodes them, and passed through privacy.KindPolicy.Apply. If the policy
// rejects a schema, or a treatment produces a field the tab cannot account for,
// Build fails instead of publishing a page that disagrees with the pipeline.
//
// Example pseudonyms are computed by a real pseudonym.Store, but over a temporary
// key directory holding a demonstration key, never the enricher's keys; the page
// says so. The tab renders as HTML (Handler serves GET /privacy), JSON
// (GET /privacy.json) and Markdown (docs/privacy.md, `producer privacy`).
package privacytab
