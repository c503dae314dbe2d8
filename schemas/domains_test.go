package schemas_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/veiltelemetry/veil/schemas"
)

func domain(t *testing.T, name string) *schemas.Domain {
	t.Helper()
	d, ok := schemas.LookupDomain(name)
	if !ok {
		t.Fatalf("no domain %q", name)
	}
	return d
}

func TestCanonKeepsOnlyDeclaredValues(t *testing.T) {
	for _, tc := range []struct {
		name, domain, in, want string
		ok                     bool
	}{
		{"a vocabulary value is kept", "container", "mkv", "mkv", true},
		{"a spelling becomes its canonical value", "container", " Matroska ", "mkv", true},
		{"case does not matter", "video_codec", "H.265", "modern", true},
		{"a video codec is kept as its family", "video_codec", "vc1", "legacy", true},
		{"AV1 is of the modern family", "video_codec", "av01", "modern", true},
		{"H.264 is a family of its own", "video_codec", "x264", "h264", true},
		{"a spelling in capitals with spaces around it is found", "video_codec", "  X264 ", "h264", true},
		{"a spelling with a non-ASCII letter is not an ASCII one", "video_codec", "X26İ", "", false},
		{"an overlong spelling is not found", "video_codec", strings.Repeat("X264", 20), "", false},
		{"WebM is Matroska", "container", "webm", "mkv", true},
		{"QuickTime is of the MP4 family", "container", "mov", "mp4", true},
		{"M2TS is a legacy video container", "container", "m2ts", "legacy", true},
		{"an audio container is kept as it is", "container", "flac", "flac", true},
		{"TrueHD is lossless", "audio_codec", "Dolby TrueHD", "lossless", true},
		{"DTS-HD Master Audio is lossless", "audio_codec", "dts-hd ma", "lossless", true},
		{"DTS-HD High Resolution is lossy", "audio_codec", "dts-hd hra", "lossy", true},
		{"E-AC-3 is lossy", "audio_codec", "e-ac-3", "lossy", true},
		{"a player name keeps its shipped spelling", "player", "veil for android tv", "Veil for Android TV", true},
		{"an exception type keeps its spelling", "exception_type", "sigsegv", "SIGSEGV", true},
		{"a path is not a container", "container", "/home/dana/Movies/Heat (1995).mkv", "", false},
		{"a friendly name is not a player", "player", "Dana's bedroom TV", "", false},
		{"a value with a vocabulary word in it is not the word", "platform", "android by dana@example.org", "", false},
		{"the empty string is in an optional vocabulary", "video_codec", "", "", true},
		{"a UUID is kept lowercased", "uuid", "0F8E2B9C-6A51-4A7E-9D7C-2B1F0C3E5A77", "0f8e2b9c-6a51-4a7e-9d7c-2b1f0c3e5a77", true},
		{"a UUID without dashes is refused", "uuid", "0f8e2b9c6a514a7e9d7c2b1f0c3e5a77", "", false},
		{"a lowercase UUID is kept as it is", "uuid", "0f8e2b9c-6a51-4a7e-9d7c-2b1f0c3e5a77", "0f8e2b9c-6a51-4a7e-9d7c-2b1f0c3e5a77", true},
		{"a UUID with a letter past f is refused", "uuid", "0f8e2b9c-6a51-4a7e-9d7c-2b1f0c3e5a7g", "", false},
		{"a UUID with a dash out of place is refused", "uuid", "0f8e2b9c6-a51-4a7e-9d7c-2b1f0c3e5a77", "", false},
		{"a UUID with a fifth dash is refused", "uuid", "0f8e2b9c-6a51-4a7e-9d7c-2b1f0c3e5a-7", "", false},
		{"a UUID with a non-ASCII byte is refused", "uuid", "0f8e2b9c-6a51-4a7e-9d7c-2b1f0c3e5a7\xe9", "", false},
		{"an empty UUID is refused", "uuid", "", "", false},
		{"a release number is kept", "version", "1.42.1", "1.42.1", true},
		{"four parts are kept", "version", "1.40.2.8395", "1.40.2.8395", true},
		{"a build suffix is removed", "version", "1.40.2.8395-c67dce28e", "1.40.2.8395", true},
		{"an e-mail after a plus is removed, not kept", "version", "1.42.1+dana@example.org", "1.42.1", true},
		{"a single number is not a version", "version", "42", "", false},
		{"five parts are not a version", "version", "1.2.3.4.5", "", false},
		{"letters glued to the number are not a version", "version", "1.42.1dana", "", false},
		{"leading zeros are not a version", "version", "01.2", "", false},
		{"an overlong part is not a version", "version", "1.123456", "", false},
		{"a hash is lowercased", "stack_hash", "5F2A9C1E", "5f2a9c1e", true},
		{"a short hash is refused", "stack_hash", "5f2a", "", false},
		{"a non-hex hash is refused", "stack_hash", "dana1234", "", false},
		{"a hash of mixed case is lowercased", "stack_hash", "5f2A9c1E00", "5f2a9c1e00", true},
		{"a hash with a space is refused", "stack_hash", "5f2a 9c1e", "", false},
		{"an OS version is cut to major.minor", "os_version", "ubuntu-24.04.1", "ubuntu-24.04", true},
		{"a single-number OS version is kept", "os_version", "debian-12", "debian-12", true},
		{"a multi-word OS name is known", "os_version", "synology-dsm-7.2", "synology-dsm-7.2", true},
		{"an OS spelling becomes its name", "os_version", "Red Hat 9.3", "rhel-9.3", true},
		{"an unknown OS is not kept", "os_version", "danas-linux-1.0", "", false},
		{"an OS without a version is not kept", "os_version", "debian", "", false},
		{"a catalog domain decides nothing on its own", "campaign", "2026-11-holiday", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := domain(t, tc.domain).Canon(tc.in)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("Canon(%q) in %s = %q, %v; want %q, %v", tc.in, tc.domain, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// Whatever a device sends, a vocabulary answers with one of its own values: a
// planted identifier cannot come out.
func TestVocabulariesAnswerOnlyWithTheirValues(t *testing.T) {
	planted := []string{"CANARY-7f3a", "/srv/media/CANARY-7f3a.mkv", "dana.CANARY@example.org", "Dana's CANARY TV", "mkv CANARY", strings.Repeat("a", 5000)}
	for _, d := range schemas.Domains() {
		if d.Kind != schemas.KindVocabulary && d.Kind != schemas.KindVersioned {
			continue
		}
		inputs := append([]string{}, planted...)
		for _, v := range d.Values {
			inputs = append(inputs, v, strings.ToUpper(v), v+"-CANARY", "CANARY "+v)
		}
		for _, in := range inputs {
			got, ok := d.Canon(in)
			if !ok {
				continue
			}
			if strings.Contains(strings.ToLower(got), "canary") {
				t.Errorf("domain %s: Canon(%q) = %q, which carries the planted text", d.Name, in, got)
			}
		}
	}
}

func TestParseDomainsRefusesAmbiguousOrUnknownDefinitions(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"one spelling of two values", `{"c": {"kind": "vocabulary", "doc": "d", "values": {"a": ["x"], "b": ["X"]}}}`, "spells both"},
		{"an unknown kind", `{"c": {"kind": "regex", "doc": "d"}}`, `unknown kind "regex"`},
		{"an empty vocabulary", `{"c": {"kind": "vocabulary", "doc": "d"}}`, "needs values"},
		{"other as a value", `{"c": {"kind": "vocabulary", "doc": "d", "values": {"other": []}}}`, `"other" cannot be a value`},
		{"a catalog without its name", `{"c": {"kind": "catalog", "doc": "d"}}`, "names its catalog"},
		{"a refusing vocabulary", `{"c": {"kind": "vocabulary", "doc": "d", "refuse": true, "values": {"a": []}}}`, "only uuid domains refuse"},
		{"no doc", `{"c": {"kind": "uuid"}}`, "no doc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := schemas.ParseDomains([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseDomains = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestEveryKeptStringOfTheRawSchemasNamesAKnownDomain(t *testing.T) {
	for _, s := range schemas.MustLoad().All() {
		if s.Stage != schemas.Raw {
			continue
		}
		for i, f := range s.Fields {
			if f.Privacy == "keep" && s.Type(i) == schemas.TString && f.Domain == nil {
				t.Errorf("%s: kept string %q has no domain", s.File, f.Name)
			}
		}
	}
}

func TestDescribeListsEveryValueAndItsSpellings(t *testing.T) {
	for _, d := range schemas.Domains() {
		desc := d.Describe()
		if !strings.HasPrefix(desc, d.Doc) {
			t.Errorf("%s: %q does not start with the doc", d.Name, desc)
		}
		for _, v := range d.Values {
			if !strings.Contains(desc, v) {
				t.Errorf("%s: %q does not name value %q", d.Name, desc, v)
			}
			for _, s := range d.Spellings(v) {
				in, want := s, v
				if d.Kind == schemas.KindVersioned { // a versioned name needs its version
					in, want = s+" 12", v+"-12"
				}
				if c, ok := d.Canon(in); !ok || c != want {
					t.Errorf("%s: spelling %q of %q canonicalizes to %q, %v", d.Name, s, v, c, ok)
				}
				if !strings.Contains(desc, s) {
					t.Errorf("%s: %q does not name spelling %q of %q", d.Name, desc, s, v)
				}
			}
		}
	}
	d := domain(t, "video_codec")
	if got, want := d.Spellings("h264"), []string{"avc", "avc1", "h.264", "x264"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Spellings(h264) = %q, want %q (without the value itself, sorted)", got, want)
	}
	if want := "h264 (from avc, avc1, h.264, x264); legacy (from "; !strings.Contains(d.Describe(), want) {
		t.Errorf("Describe() = %q, want it to contain %q", d.Describe(), want)
	}
}

func TestAnUnknownDomainFailsTheLoad(t *testing.T) {
	fsys := minimalDir(t, `{"name": "id", "type": "string", "privacy": "keep", "domain": "colour"}`)
	if _, err := schemas.LoadFS(fsys); err == nil || !strings.Contains(err.Error(), `unknown domain "colour"`) {
		t.Fatalf("LoadFS = %v, want an unknown domain error", err)
	}
}

func BenchmarkCanonVocabulary(b *testing.B) {
	d, _ := schemas.LookupDomain("video_codec")
	for b.Loop() {
		d.Canon("hevc")
	}
}

func BenchmarkCanonUUID(b *testing.B) {
	d, _ := schemas.LookupDomain("uuid")
	for b.Loop() {
		d.Canon("0f8e2b9c-6a51-4a7e-9d7c-2b1f0c3e5a77")
	}
}

// minimalDir is a schema directory with one raw schema holding field.
func minimalDir(t *testing.T, field string) fstest.MapFS {
	t.Helper()
	return fstest.MapFS{
		"raw/ping.v1.avsc": &fstest.MapFile{Data: []byte(`{"type": "record", "name": "Ping", "namespace": "test.raw.v1", "fields": [` + field + `]}`)},
	}
}
