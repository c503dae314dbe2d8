package privacytab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/veiltelemetry/veil/internal/audit"
)

// Tab is the privacy tab, computed once by Build and read by the renderers. The
// JSON field names are part of the /privacy.json contract: add fields, never rename.
type Tab struct {
	Title string `json:"title"`
	// Promise is the privacy promise in plain words, one statement per entry, each
	// derived from the compiled policy, the pseudonym settings or the audit's
	// recorded result.
	Promise []string `json:"promise"`
	// NeverKept lists the fields the enricher removes outright, whatever their value.
	NeverKept []Removed `json:"never_kept"`
	// Located lists the fields turned into a country and coarse region, then removed.
	Located []Removed `json:"located_then_removed"`
	Events  []Event   `json:"events"`
	// Linking says which events share pseudonyms, and for how long.
	Linking Linking `json:"linking"`
	// Audit is what the re-identification audit measured (audit.Recorded), stated
	// in Promise; absent when no event kind is one the audit measures.
	Audit *Reidentification `json:"reidentification_audit,omitempty"`
	// Notes say how the examples were computed (demonstration key, IP database).
	Notes []string `json:"notes"`
}

// Reidentification is the audit's recorded result in words and figures.
type Reidentification struct {
	Statements []string `json:"statements"`
	Command    string   `json:"command"` // reproduces the result
	// Rows are the worst library of each scenario, the targeted one first.
	Rows   []AuditRow   `json:"rows"`
	Result audit.Result `json:"result"`
}

// AuditRow is one scenario of the audit: how many files per film, and the clean
// tuple's figures in the worst simulated library and over all of them.
type AuditRow struct {
	FilesPerTitle int    `json:"files_per_title"`
	Targeted      bool   `json:"targeted"`
	WorstSeed     uint64 `json:"worst_seed"`
	UniqueTitles  int    `json:"unique_titles"`
	UniqueShare   string `json:"unique_share"`        // in the worst library: "0.74%"
	MedianK       int    `json:"median_k"`            // in the worst library
	UniqueSpread  string `json:"unique_share_spread"` // min / median / max over the libraries
	MedianKSpread string `json:"median_k_spread"`
}

// Linking is what pseudonyms let anyone link, from the policy's scopes and the
// key store's settings.
type Linking struct {
	Epoch           string `json:"epoch"`         // the key period in words: "30 days"
	EpochSeconds    int64  `json:"epoch_seconds"` // the key period
	RetentionEpochs int    `json:"retention_epochs"`
	// Scopes are the groups of kinds whose events share pseudonyms.
	Scopes []Scope `json:"scopes"`
	// Statements say in plain words what can be linked and for how long.
	Statements []string `json:"statements"`
}

// Scope is a group of event kinds whose pseudonyms are computed together
// (privacy.KindPolicy.PseudonymScope): within a key epoch, the same identifier has
// the same pseudonym in all of them, and an unrelated one in every other scope.
type Scope struct {
	Name   string   `json:"scope"`
	Kinds  []string `json:"kinds"`
	Fields []string `json:"fields"` // the pseudonymized fields of these kinds
}

// Removed is a raw field that never reaches the clean topic, with the event kinds
// that carry it.
type Removed struct {
	Field string   `json:"field"`
	Doc   string   `json:"doc"` // the doc of the first kind listed
	Kinds []string `json:"kinds"`
}

// Event is one event kind: its latest raw schema, its consent category and a worked
// example.
type Event struct {
	Kind        string `json:"kind"`  // "playback"
	Title       string `json:"title"` // "Playback"
	Doc         string `json:"doc"`
	RawSchema   string `json:"raw_schema"`   // "raw/playback.v1.avsc"
	CleanSchema string `json:"clean_schema"` // "clean/playback.v1.avsc"
	// Category is the consent category users can opt out of (privacy.Categories),
	// or "none".
	Category string `json:"consent_category"`
	OptOut   bool   `json:"opt_out"`
	// Consent says in a sentence whether and how the event can be turned off.
	Consent string  `json:"consent"`
	Fields  []Field `json:"fields"`
	Example Example `json:"example"`
}

// Field is one field of a raw schema.
type Field struct {
	Name      string   `json:"name"`
	Doc       string   `json:"doc"`
	Type      string   `json:"type"`   // Avro type: string, int, long, boolean, enum, timestamp-millis
	Values    []string `json:"values"` // the symbols of an enum, else empty
	Privacy   string   `json:"privacy"`
	Treatment string   `json:"treatment"` // what the privacy annotation does, in words
	// Leaves is whether anything derived from the field reaches the clean topic.
	Leaves bool `json:"leaves_enricher"`
	// KeptAs are the clean fields derived from this one (none when it is dropped).
	KeptAs []string `json:"kept_as"`
	// KeptWith are the other raw fields KeptAs are computed from together with this
	// one (width with height; an IP address with a zip code), else empty.
	KeptWith []string `json:"kept_with"`
	// Sent is the field's value in the example event; Kept are the values of KeptAs
	// in the clean example.
	Sent Value  `json:"example_sent"`
	Kept Record `json:"example_kept"`
}

// Example is a sample raw event and what the policy made of it.
type Example struct {
	Sent Record `json:"sent"` // as the enricher decoded it, in raw schema order
	Kept Record `json:"kept"` // as KindPolicy.Apply returned it, in clean schema order; empty when dropped
	// DroppedBecause is the policy's DropReason when it would discard the whole
	// event ("" when it is kept).
	DroppedBecause string `json:"dropped_because"`
}

// Value is one field of an example in goavro's native form (string, bool, int32,
// int64, time.Time...).
type Value struct {
	Field string
	V     any
}

// Wire is the value as Avro's JSON encoding writes it, which is how a device posts
// it: timestamps as epoch milliseconds, everything else as is.
func (v Value) Wire() any {
	if t, ok := v.V.(time.Time); ok {
		return t.UnixMilli()
	}
	return v.V
}

// Empty reports an empty string, which the renderers show as "(empty)".
func (v Value) Empty() bool { s, ok := v.V.(string); return ok && s == "" }

// Text is the value for people: timestamps in UTC, "(empty)" for an empty string.
func (v Value) Text() string {
	switch x := v.V.(type) {
	case nil:
		return "(none)"
	case string:
		if x == "" {
			return "(empty)"
		}
		return x
	case time.Time:
		if x.Nanosecond() == 0 {
			return x.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		return x.UTC().Format("2006-01-02 15:04:05.000 UTC")
	}
	return fmt.Sprint(v.V)
}

// MarshalJSON writes the wire form of the value.
func (v Value) MarshalJSON() ([]byte, error) { return marshal(v.Wire(), "") }

// Record is an example record with its fields in schema order.
type Record []Value

// Get returns the value of field and whether the record has it.
func (r Record) Get(field string) (any, bool) {
	for _, v := range r {
		if v.Field == field {
			return v.V, true
		}
	}
	return nil, false
}

// MarshalJSON writes the record as a JSON object in schema order, values in wire form.
func (r Record) MarshalJSON() ([]byte, error) { return r.json("") }

// Indented is the record as indented JSON, for the example blocks of the renderings.
func (r Record) Indented() (string, error) {
	b, err := r.json("  ")
	return string(b), err
}

func (r Record) json(indent string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, v := range r {
		if i > 0 {
			b.WriteByte(',')
		}
		if indent != "" {
			b.WriteString("\n" + indent)
		}
		k, err := marshal(v.Field, "")
		if err != nil {
			return nil, err
		}
		val, err := marshal(v.Wire(), "")
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", v.Field, err)
		}
		b.Write(k)
		b.WriteByte(':')
		if indent != "" {
			b.WriteByte(' ')
		}
		b.Write(val)
	}
	if indent != "" && len(r) > 0 {
		b.WriteByte('\n')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping: "<1m" stays readable. The HTML
// renderer escapes for its own context.
func marshal(v any, indent string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
