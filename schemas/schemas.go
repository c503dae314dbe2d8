package schemas

import (
	"embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/linkedin/goavro/v2"
)

//go:embed raw/*.avsc clean/*.avsc
var embedded embed.FS

// Stage tells which side of the enricher a schema belongs to.
type Stage string

const (
	Raw   Stage = "raw"   // as sent by devices, may hold identifiers
	Clean Stage = "clean" // after the privacy policy
)

// Errors a decoder returns; callers branch on them with errors.Is.
var (
	ErrNotSingleObject    = errors.New("not Avro single-object encoded")
	ErrUnknownFingerprint = errors.New("unknown schema fingerprint")
	ErrMalformed          = errors.New("malformed Avro body")
)

// Field is one field of a record schema with the project's annotations.
type Field struct {
	Name    string
	Doc     string
	Privacy string          // treatment, raw schemas only ("" when absent)
	Type    json.RawMessage // the Avro type as written; read it with Schema.Type and Schema.Symbols
	Default json.RawMessage // the "default" value as written (Avro's JSON encoding); nil when none
	Example any             // example value, raw schemas only
	Require bool            // "require": true — the event is dropped unless this boolean is true
	Domain  *Domain         // "domain": the values a kept string may hold (nil when none is named)
	About   string          // "about": what the field describes (one of Abouts), raw schemas only
}

// Abouts are the subjects a raw field can describe, named by its "about"
// attribute. The re-identification audit measures every kept field about the
// media item together.
var Abouts = []string{
	"event",    // what happened and when
	"sender",   // the installation, account, app or device that sent it
	"location", // where it was sent from
	"media",    // the media item played: its source, kind, format, size, identity
	"session",  // how it was played
}

// Schema is one version of one event kind at one stage.
type Schema struct {
	Kind    string // event kind, from the file name: "playback"
	Version int    // from the file name: playback.v1.avsc is 1
	Stage   Stage
	Name    string // Avro full name
	Doc     string // what the event is, for people: the privacy tab's description of the kind
	Title   string // raw schemas: the kind's name on the privacy tab ("Update checks")
	Consent string // raw schemas: the opt-out category (playback, crash, marketing) or none
	// ConsentSetting names, for a kind with an opt-out category, the setting of
	// the server or app that turns the category off ("Playback data"); kinds of
	// one category name the same setting. ConsentReason says, for a kind with
	// consent none, why it cannot be turned off on its own, as the end of a
	// sentence ("update checks are how your server is offered the updates it
	// needs..."). Raw schemas only.
	ConsentSetting string
	ConsentReason  string
	Fields         []Field
	File           string
	Codec          *goavro.Codec
	Fingerprint    uint64 // CRC-64-AVRO of Canonical; written in the header of every record
	Canonical      string // the Avro specification's Parsing Canonical Form (CanonicalForm)
	header         [10]byte
	flat           []flatField // the flat codec's view of Fields
	idAt           [2]int      // positions of event_id and installation_id, -1 if absent

	// LegacyFingerprint is CRC-64-AVRO of goavro's canonical form, which Veil wrote
	// before it followed the specification; records carrying it are still read.
	LegacyFingerprint uint64
}

// Registry holds every schema the binary knows, indexed by fingerprint.
type Registry struct {
	all  []*Schema
	byFP map[uint64]*Schema
}

// Load parses the schemas embedded in the binary.
func Load() (*Registry, error) { return LoadFS(embedded) }

// MustLoad is Load for the embedded schemas, which the tests prove valid.
func MustLoad() *Registry {
	r, err := Load()
	if err != nil {
		panic(err)
	}
	return r
}

// LoadFS parses raw/*.avsc and clean/*.avsc from fsys. Tests use it to load bad fixtures.
func LoadFS(fsys fs.FS) (*Registry, error) {
	r := &Registry{byFP: map[uint64]*Schema{}}
	for _, stage := range []Stage{Raw, Clean} {
		names, err := fs.Glob(fsys, string(stage)+"/*.avsc")
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			s, err := parse(fsys, name, stage)
			if err != nil {
				return nil, fmt.Errorf("schemas: %s: %w", name, err)
			}
			if err := r.register(s); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(r.all, func(i, j int) bool {
		a, b := r.all[i], r.all[j]
		if a.Stage != b.Stage {
			return a.Stage == Raw
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Version < b.Version
	})
	return r, nil
}

func parse(fsys fs.FS, name string, stage Stage) (*Schema, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(path.Base(name), ".avsc")
	kind, ver, ok := strings.Cut(base, ".v")
	version, err := strconv.Atoi(ver)
	if !ok || err != nil || kind == "" {
		return nil, fmt.Errorf("file name must be <kind>.v<N>.avsc")
	}
	var doc struct {
		Type      string `json:"type"`
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		Doc       string `json:"doc"`
		Title     string `json:"title"`
		Consent   string `json:"consent"`
		Setting   string `json:"consent_setting"`
		Reason    string `json:"consent_reason"`
		Fields    []struct {
			Name    string          `json:"name"`
			Doc     string          `json:"doc"`
			Privacy *string         `json:"privacy"`
			Type    json.RawMessage `json:"type"`
			Default json.RawMessage `json:"default"`
			Example any             `json:"example"`
			Require bool            `json:"require"`
			Domain  string          `json:"domain"`
			About   string          `json:"about"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse JSON: %w", err)
	}
	if doc.Type != "record" {
		return nil, fmt.Errorf("top-level type must be a record, got %q", doc.Type)
	}
	codec, err := goavro.NewCodec(string(data))
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	s := &Schema{
		Kind: kind, Version: version, Stage: stage,
		Name: doc.Namespace + "." + doc.Name, Doc: doc.Doc, Title: doc.Title,
		Consent: doc.Consent, ConsentSetting: doc.Setting, ConsentReason: doc.Reason,
		File: name, Codec: codec,
	}
	if err := s.setFingerprints(data); err != nil {
		return nil, err
	}
	for _, f := range doc.Fields {
		fld := Field{Name: f.Name, Doc: f.Doc, Type: f.Type, Default: f.Default, Example: f.Example, Require: f.Require, About: f.About}
		if f.Privacy != nil {
			fld.Privacy = *f.Privacy
		}
		if f.Domain != "" {
			d, ok := LookupDomain(f.Domain)
			if !ok {
				return nil, fmt.Errorf("field %q: unknown domain %q (domains.json defines them)", f.Name, f.Domain)
			}
			fld.Domain = d
		}
		if f.About != "" && !slices.Contains(Abouts, f.About) {
			return nil, fmt.Errorf("field %q: attribute \"about\" must be one of %v, got %q", f.Name, Abouts, f.About)
		}
		s.Fields = append(s.Fields, fld)
	}
	if s.flat, err = compileFlat(s.Fields); err != nil {
		return nil, err
	}
	s.idAt = [2]int{s.Index("event_id"), s.Index("installation_id")}
	return s, nil
}

// All returns every schema, raw before clean, by kind and version.
func (r *Registry) All() []*Schema { return r.all }

// Lookup returns the schema whose Fingerprint or LegacyFingerprint is fp.
func (r *Registry) Lookup(fp uint64) (*Schema, bool) {
	s, ok := r.byFP[fp]
	return s, ok
}

// Latest returns the newest version of kind at stage, or nil.
func (r *Registry) Latest(stage Stage, kind string) *Schema {
	var best *Schema
	for _, s := range r.all {
		if s.Stage == stage && s.Kind == kind && (best == nil || s.Version > best.Version) {
			best = s
		}
	}
	return best
}

// Kinds lists the event kinds that have a raw schema.
func (r *Registry) Kinds() []string {
	var kinds []string
	seen := map[string]bool{}
	for _, s := range r.all {
		if s.Stage == Raw && !seen[s.Kind] {
			seen[s.Kind] = true
			kinds = append(kinds, s.Kind)
		}
	}
	return kinds
}

// Fingerprint reads the writer fingerprint of a single-object encoded message.
func Fingerprint(msg []byte) (uint64, error) {
	if len(msg) < 10 || msg[0] != 0xC3 || msg[1] != 0x01 {
		return 0, ErrNotSingleObject
	}
	return binary.LittleEndian.Uint64(msg[2:10]), nil
}

// Decode selects the writer schema of msg by fingerprint and decodes the body into
// goavro's native form (map[string]any for records). Errors wrap ErrNotSingleObject,
// ErrUnknownFingerprint or ErrMalformed.
func (r *Registry) Decode(msg []byte) (*Schema, map[string]any, error) {
	s, err := r.Writer(msg)
	if err != nil {
		return nil, nil, err
	}
	rec, err := s.DecodeBody(msg[len(s.header):])
	return s, rec, err
}

// DecodeFlat selects the writer schema of msg by fingerprint and decodes the
// body with the flat codec into dst (Schema.DecodeFlat: the values' strings
// alias msg). Errors wrap ErrNotSingleObject, ErrUnknownFingerprint or
// ErrMalformed.
func (r *Registry) DecodeFlat(msg []byte, dst []Value) (*Schema, []Value, error) {
	s, err := r.Writer(msg)
	if err != nil {
		return nil, dst, err
	}
	rec, err := s.DecodeFlat(msg[len(s.header):], dst)
	if err != nil {
		return s, dst, err
	}
	return s, rec, nil
}

// Writer returns the schema a single-object message was written with, found by
// its Fingerprint or LegacyFingerprint. Errors wrap ErrNotSingleObject or
// ErrUnknownFingerprint. Decode and DecodeFlat decode the message's body.
func (r *Registry) Writer(msg []byte) (*Schema, error) {
	fp, err := Fingerprint(msg)
	if err != nil {
		return nil, err
	}
	s, ok := r.byFP[fp]
	if !ok {
		return nil, fmt.Errorf("%w: %016x", ErrUnknownFingerprint, fp)
	}
	return s, nil
}

// DecodeBody decodes an Avro binary body (no single-object header) written with s.
// Trailing bytes are an error: they mean the writer used another schema.
func (s *Schema) DecodeBody(body []byte) (map[string]any, error) {
	native, rest, err := decodeSafely(s.Codec, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, s.Name, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %s: %d trailing bytes", ErrMalformed, s.Name, len(rest))
	}
	rec, ok := native.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s: not a record", ErrMalformed, s.Name)
	}
	return rec, nil
}

// decodeSafely turns a panic inside goavro on hostile input into an error, so one
// bad record can never take a consumer down.
func decodeSafely(c *goavro.Codec, body []byte) (native any, rest []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panic: %v", p)
		}
	}()
	return c.NativeFromBinary(body)
}

// Encode appends the single-object encoding of rec to buf. On error it returns buf
// as the caller passed it.
func (s *Schema) Encode(buf []byte, rec map[string]any) ([]byte, error) {
	start := len(buf)
	buf = append(buf, s.header[:]...)
	out, err := s.Codec.BinaryFromNative(buf, rec)
	if err != nil {
		return buf[:start], fmt.Errorf("encode %s: %w", s.Name, err)
	}
	return out, nil
}

// Header returns the 10-byte single-object header of s.
func (s *Schema) Header() []byte { h := s.header; return h[:] }

// FingerprintHex is the fingerprint as 16 hex digits, as written in record headers.
func (s *Schema) FingerprintHex() string { return fmt.Sprintf("%016x", s.Fingerprint) }
