package schemas_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

var update = flag.Bool("update", false, "rewrite testdata/fingerprints.golden")

func TestLoadParsesTheEmbeddedSchemas(t *testing.T) {
	reg, err := schemas.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(reg.All()) == 0 {
		t.Fatal("Load returned no schemas")
	}
	if !contains(reg.Kinds(), "playback") {
		t.Errorf("Kinds() = %v, want it to contain playback", reg.Kinds())
	}
	seenClean := false
	for i, s := range reg.All() {
		if s.Stage == schemas.Clean {
			seenClean = true
		} else if seenClean {
			t.Errorf("All()[%d] = %s: raw schema listed after a clean one", i, s.File)
		}
		if got, ok := reg.Lookup(s.Fingerprint); !ok || got != s {
			t.Errorf("Lookup(%s) of %s = %v, %v; want the schema itself", s.FingerprintHex(), s.File, got, ok)
		}
		wantFile := string(s.Stage) + "/" + s.Kind + ".v" + strconv.Itoa(s.Version) + ".avsc"
		if s.File != wantFile {
			t.Errorf("schema %s: Kind, Version and Stage say the file is %s", s.File, wantFile)
		}
		if len(s.FingerprintHex()) != 16 {
			t.Errorf("%s: FingerprintHex() = %q, want 16 hex digits", s.File, s.FingerprintHex())
		}
	}
	for _, kind := range reg.Kinds() {
		if reg.Latest(schemas.Raw, kind) == nil || reg.Latest(schemas.Clean, kind) == nil {
			t.Errorf("kind %s lacks a raw or a clean schema", kind)
		}
	}
	if s := reg.Latest(schemas.Raw, "no-such-kind"); s != nil {
		t.Errorf("Latest of an unknown kind = %s, want nil", s.File)
	}
}

func TestEveryRawFieldHasAPrivacyAnnotationAndAnExample(t *testing.T) {
	for _, s := range schemas.MustLoad().All() {
		for _, f := range s.Fields {
			switch s.Stage {
			case schemas.Raw:
				if f.Privacy == "" {
					t.Errorf("%s: field %q has no privacy annotation", s.File, f.Name)
				}
				if f.Example == nil {
					t.Errorf("%s: field %q has no example", s.File, f.Name)
				}
			case schemas.Clean:
				if f.Privacy != "" {
					t.Errorf("%s: clean field %q has a privacy annotation %q; only raw fields take one", s.File, f.Name, f.Privacy)
				}
			}
			if strings.TrimSpace(f.Doc) == "" {
				t.Errorf("%s: field %q has no doc", s.File, f.Name)
			}
		}
	}
}

func TestFingerprintsAreUniqueAndHeadersCarryThem(t *testing.T) {
	reg := schemas.MustLoad()
	seen := map[uint64]string{}
	for _, s := range reg.All() {
		for _, fp := range []uint64{s.Fingerprint, s.LegacyFingerprint} {
			if prev, dup := seen[fp]; dup && prev != s.File {
				t.Errorf("%s and %s share fingerprint %016x", prev, s.File, fp)
			}
			seen[fp] = s.File
			if got, ok := reg.Lookup(fp); !ok || got != s {
				t.Errorf("Lookup(%016x) = %v, %v; want %s", fp, got, ok, s.File)
			}
		}
		h := s.Header()
		if len(h) != 10 || h[0] != 0xC3 || h[1] != 0x01 {
			t.Fatalf("%s: Header() = % x, want C3 01 and 8 fingerprint bytes", s.File, h)
		}
		fp, err := schemas.Fingerprint(h)
		if err != nil || fp != s.Fingerprint {
			t.Errorf("%s: Fingerprint(Header()) = %x, %v; want %x", s.File, fp, err, s.Fingerprint)
		}
		if want := fmt.Sprintf("%016x", s.Fingerprint); s.FingerprintHex() != want {
			t.Errorf("%s: FingerprintHex() = %s, want %s", s.File, s.FingerprintHex(), want)
		}
		h[0] = 0 // Header returns a copy
		if s.Header()[0] != 0xC3 {
			t.Errorf("%s: modifying the slice Header returned changed the schema's header", s.File)
		}
	}
}

// The fingerprints are the wire contract: a record carries one, and a consumer
// that does not know it refuses the record. testdata/fingerprints.golden lists
// them so that any change shows in review (go test ./schemas -update rewrites it).
// Annotations (doc, privacy, example) are not part of the canonical form and
// change nothing here.
func TestFingerprintsMatchTheGoldenList(t *testing.T) {
	var b strings.Builder
	b.WriteString("# file\tfingerprint (specification, written)\tlegacy fingerprint (goavro's form, read)\n")
	for _, s := range schemas.MustLoad().All() {
		fmt.Fprintf(&b, "%s\t%s\t%016x\n", s.File, s.FingerprintHex(), s.LegacyFingerprint)
	}
	const golden = "testdata/fingerprints.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./schemas -update writes it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("fingerprints changed; a changed fingerprint makes every consumer refuse the records, so a schema change must be a new version file. Got:\n%s\nwant (%s):\n%s", got, golden, want)
	}
}

// Records written before Veil followed the specification carry the legacy
// fingerprint in their header; they decode with the same schema.
func TestLegacyFingerprintsStillDecode(t *testing.T) {
	reg := schemas.MustLoad()
	for _, s := range reg.All() {
		if s.Stage != schemas.Raw {
			continue // only raw fields have examples
		}
		rec := sampleRaw(t, s)
		msg, err := s.Encode(nil, rec)
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint64(msg[2:10], s.LegacyFingerprint)
		got, back, err := reg.Decode(msg)
		if err != nil || got != s {
			t.Fatalf("%s: Decode with the legacy header = %v, %v; want the schema", s.File, got, err)
		}
		if !reflect.DeepEqual(back, rec) {
			t.Errorf("%s: legacy record decoded to\n%#v\nwant\n%#v", s.File, back, rec)
		}
		if got, flat, err := reg.DecodeFlat(msg, nil); err != nil || got != s || !reflect.DeepEqual(s.FromFlat(flat), rec) {
			t.Errorf("%s: DecodeFlat with the legacy header = %v, %v, %v; want the schema and the record", s.File, got, flat, err)
		}
	}
}

// sampleRaw builds a record of s from the "example" values of its fields, converted
// to the native types goavro expects.
func sampleRaw(t testing.TB, s *schemas.Schema) map[string]any {
	t.Helper()
	rec := map[string]any{}
	for _, f := range s.Fields {
		rec[f.Name] = nativeExample(t, s, f)
	}
	return rec
}

func nativeExample(t testing.TB, s *schemas.Schema, f schemas.Field) any {
	t.Helper()
	var typ struct {
		Type        string `json:"type"`
		LogicalType string `json:"logicalType"`
	}
	if err := json.Unmarshal(f.Type, &typ.Type); err != nil { // not a bare name
		if err := json.Unmarshal(f.Type, &typ); err != nil {
			t.Fatalf("%s: field %s: type %s: %v", s.File, f.Name, f.Type, err)
		}
	}
	num := func() float64 {
		n, ok := f.Example.(float64)
		if !ok {
			t.Fatalf("%s: field %s: example %v (%T) is not a number", s.File, f.Name, f.Example, f.Example)
		}
		return n
	}
	switch {
	case typ.LogicalType == "timestamp-millis":
		return time.UnixMilli(int64(num())).UTC()
	case typ.Type == "long":
		return int64(num())
	case typ.Type == "int":
		return int32(num())
	case typ.Type == "boolean":
		b, ok := f.Example.(bool)
		if !ok {
			t.Fatalf("%s: field %s: example %v (%T) is not a boolean", s.File, f.Name, f.Example, f.Example)
		}
		return b
	case typ.Type == "string" || typ.Type == "enum":
		str, ok := f.Example.(string)
		if !ok {
			t.Fatalf("%s: field %s: example %v (%T) is not a string", s.File, f.Name, f.Example, f.Example)
		}
		return str
	}
	t.Fatalf("%s: field %s: no example conversion for type %s", s.File, f.Name, f.Type)
	return nil
}

func sampleMessage(t testing.TB) (*schemas.Registry, *schemas.Schema, map[string]any, []byte) {
	t.Helper()
	reg := schemas.MustLoad()
	raw := reg.Latest(schemas.Raw, "playback")
	rec := sampleRaw(t, raw)
	msg, err := raw.Encode(nil, rec)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return reg, raw, rec, msg
}

func TestEncodeThenDecodeReturnsTheSameRecord(t *testing.T) {
	reg, raw, rec, msg := sampleMessage(t)
	if !bytes.Equal(msg[:10], raw.Header()) {
		t.Fatalf("message starts with % x, want the header % x", msg[:10], raw.Header())
	}
	got, back, err := reg.Decode(msg)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got != raw {
		t.Errorf("Decode chose %s, want %s", got.File, raw.File)
	}
	if !reflect.DeepEqual(back, rec) {
		t.Errorf("round trip changed the record:\n got %#v\nwant %#v", back, rec)
	}
	// The timestamp keeps its millisecond precision.
	if want := time.UnixMilli(1795526345123).UTC(); !back["event_time"].(time.Time).Equal(want) {
		t.Errorf("event_time = %v, want %v", back["event_time"], want)
	}
}

func TestEncodeAppendsToBufAndKeepsItOnError(t *testing.T) {
	_, raw, rec, msg := sampleMessage(t)
	prefix := []byte("earlier record")
	out, err := raw.Encode(append([]byte(nil), prefix...), rec)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if want := append(append([]byte(nil), prefix...), msg...); !bytes.Equal(out, want) {
		t.Errorf("Encode did not append to buf:\n got % x\nwant % x", out, want)
	}

	bad := map[string]any{}
	for k, v := range rec {
		bad[k] = v
	}
	bad["bitrate_kbps"] = "fast" // an int field
	out, err = raw.Encode(append([]byte(nil), prefix...), bad)
	if err == nil {
		t.Fatal("Encode of a record with a string in an int field succeeded")
	}
	if !bytes.Equal(out, prefix) {
		t.Errorf("after a failed Encode buf = %q, want the caller's %q unchanged", out, prefix)
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	reg, _, _, msg := sampleMessage(t)
	mutate := func(f func(m []byte) []byte) []byte { return f(append([]byte(nil), msg...)) }
	tests := []struct {
		name string
		msg  []byte
		want error
	}{
		{"an empty message is not single-object encoded", nil, schemas.ErrNotSingleObject},
		{"a message shorter than the header is not single-object encoded", msg[:9], schemas.ErrNotSingleObject},
		{"a wrong first magic byte is not single-object encoded", mutate(func(m []byte) []byte { m[0] = 0xC4; return m }), schemas.ErrNotSingleObject},
		{"a wrong second magic byte is not single-object encoded", mutate(func(m []byte) []byte { m[1] = 0x00; return m }), schemas.ErrNotSingleObject},
		{"plain JSON is not single-object encoded", []byte(`{"event_id":"x","installation_id":"y"}`), schemas.ErrNotSingleObject},
		{"a fingerprint no schema has is unknown", mutate(func(m []byte) []byte { m[2] ^= 0xFF; return m }), schemas.ErrUnknownFingerprint},
		{"a header without a body is malformed", msg[:10], schemas.ErrMalformed},
		{"a body missing its last byte is malformed", msg[:len(msg)-1], schemas.ErrMalformed},
		{"a body cut in the middle is malformed", msg[:len(msg)/2], schemas.ErrMalformed},
		{"trailing bytes after the body are malformed", append(append([]byte(nil), msg...), 0x00), schemas.ErrMalformed},
		{"an enum index out of range is malformed", mutate(func(m []byte) []byte { m[len(m)-1] = 0x7E; return m }), schemas.ErrMalformed},
	}
	sentinels := []error{schemas.ErrNotSingleObject, schemas.ErrUnknownFingerprint, schemas.ErrMalformed}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, rec, err := reg.Decode(tt.msg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode error = %v, want %v", err, tt.want)
			}
			for _, other := range sentinels {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("Decode error %v also matches %v", err, other)
				}
			}
			if rec != nil {
				t.Errorf("Decode returned a record %v along with an error", rec)
			}
			if tt.want != schemas.ErrMalformed && s != nil {
				t.Errorf("Decode returned schema %s though it could not choose one", s.File)
			}
		})
	}
}

func TestLoadFSRejectsBadSchemaDirectories(t *testing.T) {
	tests := []struct {
		dir  string
		want string
	}{
		{"badname", "raw/playback.avsc: file name must be <kind>.v<N>.avsc"},
		{"badversion", "raw/playback.vx.avsc: file name must be <kind>.v<N>.avsc"},
		{"nokind", "clean/.v1.avsc: file name must be <kind>.v<N>.avsc"},
		{"badjson", "raw/playback.v1.avsc: parse JSON"},
		{"notrecord", `raw/playback.v1.avsc: top-level type must be a record, got "enum"`},
		{"badavro", "raw/playback.v1.avsc: compile"},
		{"samefingerprint", "raw/playback.v1.avsc and raw/playback.v2.avsc have the same fingerprint"},
		{"samelogicaltype", "raw/ping.v1.avsc and raw/ping.v2.avsc have the same fingerprint 8afa450cf61946fd"},
		{"legacyclash", "raw/ping.v1.avsc and raw/ping.v2.avsc have the same fingerprint 8740226977856f2b"},
	}
	entries, err := os.ReadDir("testdata/bad")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(tests) {
		t.Errorf("testdata/bad has %d fixtures and the table %d cases; every fixture needs an expected error", len(entries), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			reg, err := schemas.LoadFS(os.DirFS(filepath.Join("testdata", "bad", tt.dir)))
			if err == nil {
				t.Fatalf("LoadFS succeeded with %d schemas, want an error containing %q", len(reg.All()), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadFS error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadFSAcceptsAGoodMinimalDirectory(t *testing.T) {
	reg, err := schemas.LoadFS(os.DirFS("testdata/good"))
	if err != nil {
		t.Fatalf("LoadFS: %v", err)
	}
	var files []string
	for _, s := range reg.All() {
		files = append(files, s.File)
	}
	want := []string{"raw/ping.v1.avsc", "raw/ping.v2.avsc", "clean/ping.v1.avsc"}
	if !reflect.DeepEqual(files, want) {
		t.Errorf("All() files = %v, want %v (raw before clean, by version)", files, want)
	}
	if s := reg.Latest(schemas.Raw, "ping"); s == nil || s.Version != 2 || s.Name != "test.raw.v2.Ping" {
		t.Errorf("Latest(raw, ping) = %+v, want version 2 named test.raw.v2.Ping", s)
	}
	if f := reg.Latest(schemas.Raw, "ping").Fields[0]; f.Privacy != "keep" || f.Example != "x" {
		t.Errorf("field annotations = %q, %v; want keep and example x", f.Privacy, f.Example)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// A field's default is its "default" as written, and absent when it has none;
// the default of an enum type (what a reader uses for an unknown symbol) is
// not the field's.
func TestFieldDefaultIsTheFieldsOwn(t *testing.T) {
	raw := schemas.MustLoad().Latest(schemas.Raw, "playback")
	for name, want := range map[string]string{"account_id": `""`, "installation_id": "", "device_type": ""} {
		if got := string(raw.Fields[raw.Index(name)].Default); got != want {
			t.Errorf("%s: Default = %q, want %q", name, got, want)
		}
	}
}

// Every raw schema says, for the privacy tab, what its kind is called and
// how it can be turned off: a kind with an opt-out category names the setting
// that turns the category off (the same for every kind of the category), a
// kind with consent none says why it cannot be turned off on its own.
func TestRawSchemasNameTheirKindAndConsent(t *testing.T) {
	setting := map[string]string{} // category -> its setting
	for _, s := range schemas.MustLoad().All() {
		if s.Stage != schemas.Raw {
			continue
		}
		if s.Title == "" || s.Doc == "" {
			t.Errorf("%s: no \"title\" or no \"doc\"", s.File)
		}
		switch {
		case s.Consent == "":
			t.Errorf("%s: no \"consent\"", s.File)
		case s.Consent == "none" && (s.ConsentReason == "" || s.ConsentSetting != ""):
			t.Errorf("%s: consent none needs a \"consent_reason\" and no \"consent_setting\"", s.File)
		case s.Consent != "none" && (s.ConsentSetting == "" || s.ConsentReason != ""):
			t.Errorf("%s: consent %s needs a \"consent_setting\" and no \"consent_reason\"", s.File, s.Consent)
		case s.Consent != "none" && setting[s.Consent] != "" && setting[s.Consent] != s.ConsentSetting:
			t.Errorf("%s: category %s is turned off by %q here and by %q elsewhere", s.File, s.Consent, s.ConsentSetting, setting[s.Consent])
		case s.Consent != "none":
			setting[s.Consent] = s.ConsentSetting
		}
	}
}
