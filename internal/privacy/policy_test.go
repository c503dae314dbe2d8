package privacy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/privacy"
	"github.com/veiltelemetry/veil/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files and the generated bad schema fixtures")

// fakePseudonyms makes pseudonyms anyone can read, so the golden files show which
// field and value went in.
type fakePseudonyms struct {
	calls []string
	err   error
}

func (f *fakePseudonyms) Pseudonym(field, value string) (string, error) {
	f.calls = append(f.calls, field+"="+value)
	if f.err != nil {
		return "", f.err
	}
	return "P(" + field + ":" + value + ")", nil
}

// fakeGeo knows a few places and records what it was asked.
type fakeGeo struct{ calls [][2]string }

func (f *fakeGeo) Locate(ip, zip string) (string, string) {
	f.calls = append(f.calls, [2]string{ip, zip})
	switch {
	case zip == "10027":
		return "US", "US-NY"
	case ip == "81.2.69.160":
		return "GB", "GB-ENG"
	case ip == "2001:db8::1":
		return "DE", "DE-BE"
	}
	return "", ""
}

// fakeCatalog holds a few ids of the service's own content and campaigns.
type fakeCatalog map[string]map[string]bool

func (c fakeCatalog) Lookup(set, id string) (string, bool) {
	if c[set][id] {
		return strings.Clone(id), true
	}
	return "", false
}

var testCatalog = fakeCatalog{
	"hosted":   {"livetv:channel-7": true, "trailer:tt0083658-2": true},
	"campaign": {"2026-11-holiday": true},
}

func newPolicy(t *testing.T) (*privacy.KindPolicy, *fakePseudonyms, *fakeGeo) {
	t.Helper()
	kp, _, ps, geo := newPolicyOf(t, "playback")
	return kp, ps, geo
}

func newPolicyOf(t *testing.T, kind string) (*privacy.KindPolicy, *privacy.Policy, *fakePseudonyms, *fakeGeo) {
	t.Helper()
	reg := schemas.MustLoad()
	ps, geo := &fakePseudonyms{}, &fakeGeo{}
	p, err := privacy.New(reg, privacy.Deps{Pseudonyms: ps, Geo: geo, Catalog: testCatalog})
	if err != nil {
		t.Fatalf("New on the real schemas: %v", err)
	}
	raw := reg.Latest(schemas.Raw, kind)
	kp, ok := p.For(raw)
	if !ok {
		t.Fatalf("no policy for %s", raw.File)
	}
	if kp.Raw != raw || kp.Clean != reg.Latest(schemas.Clean, kind) {
		t.Fatalf("policy maps %s to %s, want the latest clean %s schema", kp.Raw.File, kp.Clean.File, kind)
	}
	if _, ok := p.For(kp.Clean); ok {
		t.Errorf("For(%s) found a policy for a clean schema", kp.Clean.File)
	}
	return kp, p, ps, geo
}

func TestNewAcceptsTheRealSchemasAndRequiresItsDependencies(t *testing.T) {
	reg := schemas.MustLoad()
	if _, err := privacy.New(reg, privacy.Deps{Pseudonyms: &fakePseudonyms{}, Geo: &fakeGeo{}}); err != nil {
		t.Fatalf("New: %v", err)
	}
	for name, deps := range map[string]privacy.Deps{
		"no pseudonymizer": {Geo: &fakeGeo{}},
		"no locator":       {Pseudonyms: &fakePseudonyms{}},
	} {
		if _, err := privacy.New(reg, deps); err == nil {
			t.Errorf("New with %s succeeded", name)
		}
	}
}

// ---- Fail closed: bad schema fixtures --------------------------------------------

// A badCase is a copy of the real playback schemas with exactly one change, made by
// edit, and the error privacy.New must return for it.
type badCase struct {
	name  string
	stage schemas.Stage // which file the change is in
	edit  func(t *testing.T, schema string) string
	want  string
}

var badCases = []badCase{
	{"raw-field-without-privacy", schemas.Raw, setPrivacy("library_name", "drop", ""),
		`field "library_name": no privacy annotation`},
	{"raw-field-with-empty-privacy", schemas.Raw, setPrivacy("player_name", "drop", `""`),
		`field "player_name": no privacy annotation`},
	{"unknown-treatment-hash", schemas.Raw, setPrivacy("installation_id", "pseudonymize", `"hash"`),
		`field "installation_id": unknown privacy treatment "hash"`},
	{"generalize-without-rule", schemas.Raw, setPrivacy("size_bytes", "generalize:size", `"generalize"`),
		`field "size_bytes": unknown privacy treatment "generalize"`},
	{"clean-field-produced-by-nothing", schemas.Clean, addFieldAfter("region", `{"name": "city", "type": "string", "doc": "City, which no treatment produces."},`),
		`clean field "city" of clean/playback.v1.avsc is produced by no raw field`},
	{"raw-keep-field-missing-in-clean", schemas.Clean, removeField("player"),
		`field "player" produces "player", which clean/playback.v1.avsc lacks`},
	{"resolution-on-width-only", schemas.Raw, setPrivacy("height", "generalize:resolution", `"drop"`),
		`fields [width]: generalize:resolution takes exactly the fields width and height`},
	{"keep-of-a-string-without-domain", schemas.Raw, removeAttr("player", `"domain": "player", `),
		`field "player": keep of a string needs a "domain" attribute`},
	{"domain-on-a-dropped-field", schemas.Raw, setPrivacy("player_name", "drop", `"drop", "domain": "player"`),
		`field "player_name": a "domain" belongs to a kept string, not to drop of a string`},
	{"domain-on-an-enum", schemas.Raw, setPrivacy("media_type", "keep", `"keep", "domain": "container"`),
		`field "media_type": a "domain" belongs to a kept string, not to keep of a enum`},
	{"field-without-about", schemas.Raw, removeAttr("container", `, "about": "media"`),
		`field "container": no "about" attribute`},
	{"two-fields-generalized-to-the-hour", schemas.Raw, setPrivacy("played_ms", "generalize:played", `"generalize:hour"`),
		`field "played_ms": output "event_hour" is already produced by "event_time"`},
	{"no-clean-schema", schemas.Clean, func(*testing.T, string) string { return "" },
		`no clean schema for kind "playback"`},
	{"raw-schema-without-consent-category", schemas.Raw, func(t *testing.T, s string) string {
		const line = "  \"consent\": \"playback\",\n"
		if !strings.Contains(s, line) {
			t.Fatalf("the real raw schema has no consent line to remove")
		}
		return strings.Replace(s, line, "", 1)
	}, `schema attribute "consent" must be one of [playback crash marketing] or none, got ""`},
	{"require-on-a-string-field", schemas.Raw, func(t *testing.T, s string) string {
		const from = `"privacy": "drop", "about": "sender", "example": "Dana's bedroom TV",`
		if !strings.Contains(s, from) {
			t.Fatalf("the real raw schema changed; update this case")
		}
		return strings.Replace(s, from, `"privacy": "drop", "about": "sender", "require": true, "example": "Dana's bedroom TV",`, 1)
	}, `field "player_name": "require" needs a boolean field`},
}

// fieldSpan returns the byte range of the definition of field in an .avsc file as
// the project formats them, one field per line or lines: from the start of the line
// with its name to the end of the line where its JSON object closes.
func fieldSpan(t *testing.T, schema, field string) (start, end int) {
	t.Helper()
	key := `{"name": "` + field + `"`
	if n := strings.Count(schema, key); n != 1 {
		t.Fatalf("the real schema defines field %q %d times, want once; update the bad fixture", field, n)
	}
	open := strings.Index(schema, key)
	start = strings.LastIndex(schema[:open], "\n") + 1
	depth, inString, escaped := 0, false, false
	for i := open; i < len(schema); i++ {
		c := schema[i]
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				nl := strings.Index(schema[i:], "\n")
				if nl < 0 || strings.Trim(schema[i+1:i+nl], ", ") != "" {
					t.Fatalf("field %q does not end its line", field)
				}
				return start, i + nl + 1
			}
		}
	}
	t.Fatalf("field %q: unbalanced JSON", field)
	return 0, 0
}

// setPrivacy changes the privacy annotation of field from `"from"` to the JSON value
// to, or removes the attribute when to is "".
func setPrivacy(field, from, to string) func(*testing.T, string) string {
	return func(t *testing.T, schema string) string {
		s, e := fieldSpan(t, schema, field)
		def, old := schema[s:e], `"privacy": "`+from+`"`
		if strings.Count(def, old) != 1 {
			t.Fatalf("field %q of the real schema is not annotated %s; update the bad fixture", field, old)
		}
		if to == "" {
			def = strings.Replace(def, old+", ", "", 1)
		} else {
			def = strings.Replace(def, old, `"privacy": `+to, 1)
		}
		return schema[:s] + def + schema[e:]
	}
}

// removeAttr removes attr, which must appear once, from the definition of field.
func removeAttr(field, attr string) func(*testing.T, string) string {
	return func(t *testing.T, schema string) string {
		s, e := fieldSpan(t, schema, field)
		def := schema[s:e]
		if strings.Count(def, attr) != 1 {
			t.Fatalf("field %q of the real schema does not hold %s once; update the bad fixture", field, attr)
		}
		return schema[:s] + strings.Replace(def, attr, "", 1) + schema[e:]
	}
}

func removeField(field string) func(*testing.T, string) string {
	return func(t *testing.T, schema string) string {
		s, e := fieldSpan(t, schema, field)
		return schema[:s] + schema[e:]
	}
}

func addFieldAfter(field, def string) func(*testing.T, string) string {
	return func(t *testing.T, schema string) string {
		_, e := fieldSpan(t, schema, field)
		return schema[:e] + "    " + def + "\n" + schema[e:]
	}
}

// badFixture returns the files of a bad case, path → content ("" means absent).
func badFixture(t *testing.T, c badCase) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, stage := range []schemas.Stage{schemas.Raw, schemas.Clean} {
		name := string(stage) + "/playback.v1.avsc"
		real, err := os.ReadFile(filepath.Join("..", "..", "schemas", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(real)
		if stage == c.stage {
			files[name] = c.edit(t, string(real))
			if files[name] == string(real) {
				t.Fatalf("%s: the edit changed nothing", c.name)
			}
		}
	}
	return files
}

// TestBadFixturesAreTheRealSchemasWithOneChange keeps testdata/bad in step with the
// real schemas: each fixture must be exactly what its edit makes of them. Run
// go test -update after changing a real schema to regenerate the fixtures.
func TestBadFixturesAreTheRealSchemasWithOneChange(t *testing.T) {
	dirs := map[string]bool{}
	entries, _ := os.ReadDir(filepath.Join("testdata", "bad"))
	for _, e := range entries {
		dirs[e.Name()] = true
	}
	for _, c := range badCases {
		delete(dirs, c.name)
		for name, want := range badFixture(t, c) {
			path := filepath.Join("testdata", "bad", c.name, filepath.FromSlash(name))
			if *update {
				os.Remove(path)
				if want != "" {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				continue
			}
			got, err := os.ReadFile(path)
			switch {
			case want == "" && err == nil:
				t.Errorf("%s exists but the fixture has no such file (run go test -update)", path)
			case want != "" && err != nil:
				t.Errorf("%v (run go test -update)", err)
			case want != "" && string(got) != want:
				t.Errorf("%s is not the real schema with the one change of case %s (run go test -update)", path, c.name)
			}
		}
	}
	for d := range dirs {
		t.Errorf("testdata/bad/%s has no case in badCases, so nothing checks its expected error", d)
	}
}

func TestNewFailsClosedOnBadSchemas(t *testing.T) {
	for _, c := range badCases {
		t.Run(c.name, func(t *testing.T) {
			reg, err := schemas.LoadFS(os.DirFS(filepath.Join("testdata", "bad", c.name)))
			if err != nil {
				t.Fatalf("the fixture must be valid Avro apart from its privacy problem: %v", err)
			}
			_, err = privacy.New(reg, privacy.Deps{Pseudonyms: &fakePseudonyms{}, Geo: &fakeGeo{}})
			if err == nil {
				t.Fatalf("New accepted the schemas, want an error containing %q", c.want)
			}
			if !strings.HasPrefix(err.Error(), "privacy: raw/playback.v1.avsc: ") {
				t.Errorf("error %q does not name the raw schema file", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("New error = %q, want it to contain %q", err, c.want)
			}
		})
	}
}

// ---- Apply ------------------------------------------------------------------------

// example returns the raw playback record made of the schema's example values, in
// goavro's native form.
func example(t *testing.T, raw *schemas.Schema) map[string]any {
	t.Helper()
	rec := map[string]any{}
	for _, f := range raw.Fields {
		var name string
		var obj struct {
			Type        string `json:"type"`
			LogicalType string `json:"logicalType"`
		}
		if json.Unmarshal(f.Type, &name) != nil {
			if err := json.Unmarshal(f.Type, &obj); err != nil {
				t.Fatalf("field %s: %v", f.Name, err)
			}
			name = obj.Type
		}
		switch n, _ := f.Example.(float64); {
		case obj.LogicalType == "timestamp-millis":
			rec[f.Name] = time.UnixMilli(int64(n)).UTC()
		case name == "long":
			rec[f.Name] = int64(n)
		case name == "int":
			rec[f.Name] = int32(n)
		default:
			rec[f.Name] = f.Example
		}
	}
	return rec
}

// applyCases are raw records, each the schema example with some fields changed.
var applyCases = []struct {
	name   string
	change map[string]any
}{
	{"local-movie", nil}, // the example itself: a 4K film from the user's server, with a stray catalog id
	{"hosted-trailer-with-catalog-id", map[string]any{
		"media_source": "hosted", "catalog_id": "trailer:tt0083658-2", "container": "mp4", "video_codec": "h264", "audio_codec": "aac",
		"duration_ms": int64(154_000), "bitrate_kbps": int32(6000), "size_bytes": int64(115_500_000), "width": int32(1920), "height": int32(800),
		"file_path": "", "file_name": "", "library_name": "", "title": "Blade Runner (Official Trailer)", "played_ms": int64(154_000),
		"decision": "direct_stream", "playback_event": "stop",
	}},
	{"music-track", map[string]any{
		"media_type": "music", "device_type": "smart_speaker", "platform": "linux", "player": "Veil for Speakers", "container": "flac",
		"video_codec": "", "audio_codec": "flac", "duration_ms": int64(245_000), "bitrate_kbps": int32(1011), "size_bytes": int64(30_957_000),
		"width": int32(0), "height": int32(0), "file_path": "/home/dana/Music/Vangelis/Blade Runner (1994)/12 Tears in Rain.flac",
		"file_name": "12 Tears in Rain.flac", "library_name": "Music", "title": "Tears in Rain", "catalog_id": "",
		"played_ms": int64(61_000), "playback_event": "progress", "player_name": "Kitchen speaker",
	}},
	{"photo", map[string]any{
		"media_type": "photo", "device_type": "tablet", "platform": "ios", "player": "Veil for iPad", "container": "jpeg",
		"video_codec": "", "audio_codec": "", "duration_ms": int64(0), "bitrate_kbps": int32(0), "size_bytes": int64(3_400_000),
		"width": int32(4032), "height": int32(3024), "file_path": "/home/dana/Pictures/2024/IMG_0042.jpg", "file_name": "IMG_0042.jpg",
		"library_name": "Photos", "title": "IMG_0042", "played_ms": int64(0), "playback_event": "start", "catalog_id": "",
	}},
	{"event-without-account-or-zip", map[string]any{
		"account_id": "", "zip_code": "", "client_ip": "2001:db8::1", "device_type": "web", "platform": "web", "player": "Veil Web",
		"player_name": "", "event_time": time.Date(2026, 2, 28, 23, 59, 59, 999e6, time.UTC), "playback_event": "start", "played_ms": int64(0),
	}},
}

// mustDropFields never reach the clean topic in any form.
var mustDropFields = []string{"file_path", "file_name", "library_name", "title", "player_name", "client_ip", "zip_code"}

func rawRecord(t *testing.T, raw *schemas.Schema, change map[string]any) map[string]any {
	t.Helper()
	rec := example(t, raw)
	for k, v := range change {
		if _, ok := rec[k]; !ok {
			t.Fatalf("change of unknown field %q", k)
		}
		rec[k] = v
	}
	// Go through Avro so that Apply sees exactly what the enricher decodes.
	msg, err := raw.Encode(nil, rec)
	if err != nil {
		t.Fatalf("raw record is not valid for %s: %v", raw.File, err)
	}
	_, decoded, err := schemas.MustLoad().Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	return decoded
}

func TestApplyMatchesGoldenFiles(t *testing.T) {
	kp, _, _ := newPolicy(t)
	var cleanNames []string
	for _, f := range kp.Clean.Fields {
		cleanNames = append(cleanNames, f.Name)
	}
	sort.Strings(cleanNames)
	for _, c := range applyCases {
		t.Run(c.name, func(t *testing.T) {
			out, err := kp.Apply(rawRecord(t, kp.Raw, c.change))
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			var got []string
			for k := range out {
				got = append(got, k)
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, cleanNames) {
				t.Errorf("clean record has fields %v, want exactly those of %s: %v", got, kp.Clean.File, cleanNames)
			}
			if _, err := kp.Clean.Encode(nil, out); err != nil {
				t.Errorf("clean record does not encode with %s: %v", kp.Clean.File, err)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				t.Fatal(err)
			}
			js := buf.Bytes()
			golden := filepath.Join("testdata", "golden", c.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, js, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(js, want) {
				t.Errorf("clean record differs from %s (run go test -update if the change is intended):\n%s", golden, js)
			}
		})
	}
}

func TestApplyKeepsACatalogIDOnlyWhenTheServiceCatalogHoldsIt(t *testing.T) {
	for _, tc := range []struct {
		name, source, id, want string
		replaced               uint64
	}{
		{"a hosted id the catalog holds is kept", "hosted", "livetv:channel-7", "livetv:channel-7", 0},
		{"the catalog decides, not the device's media_source", "local", "trailer:tt0083658-2", "trailer:tt0083658-2", 0},
		{"a local file's id claimed as hosted is removed", "hosted", "/srv/media/Movies/Heat (1995).mkv", "", 1},
		{"an id the catalog does not hold is removed", "hosted", "livetv:channel-8", "", 1},
		{"no id stays no id", "local", "", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kp, _, _ := newPolicy(t)
			out, err := kp.Apply(rawRecord(t, kp.Raw, map[string]any{"media_source": tc.source, "catalog_id": tc.id}))
			if err != nil {
				t.Fatal(err)
			}
			if out["catalog_id"] != tc.want {
				t.Errorf("catalog_id = %q, want %q", out["catalog_id"], tc.want)
			}
			if got := replacedOf(kp)["catalog_id"]; got != tc.replaced {
				t.Errorf("replaced count of catalog_id = %d, want %d", got, tc.replaced)
			}
		})
	}
}

func replacedOf(kp *privacy.KindPolicy) map[string]uint64 {
	m := map[string]uint64{}
	kp.Replaced(func(f string, n uint64) { m[f] = n })
	return m
}

// Hostile values in kept fields never reach the clean record: each becomes
// "other" (or, for versions, the release number before its suffix), and the
// replacement is counted per field.
func TestApplyReplacesValuesOutsideTheirDomain(t *testing.T) {
	kp, _, _ := newPolicy(t)
	out, err := kp.Apply(rawRecord(t, kp.Raw, map[string]any{
		"container":   "/home/dana/Movies/Heat (1995).mkv",
		"player":      "Dana's bedroom TV",
		"platform":    "dana@example.org",
		"video_codec": "HEVC",
		"audio_codec": "Dolby TrueHD",
		"app_version": "1.42.1+dana@example.org",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"container": "other", "player": "other", "platform": "other",
		"video_codec": "modern", "audio_codec": "lossless", "app_version": "1.42.1"}
	for f, v := range want {
		if out[f] != v {
			t.Errorf("%s = %q, want %q", f, out[f], v)
		}
	}
	if got, want := replacedOf(kp), map[string]uint64{"container": 1, "player": 1, "platform": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("replaced counts = %v, want %v", got, want)
	}
}

func TestApplyKeepsOnlyCampaignsOfTheCatalog(t *testing.T) {
	kp, _, _, _ := newPolicyOf(t, "marketing")
	for id, want := range map[string]string{"2026-11-holiday": "2026-11-holiday", "2026-11-dana@example.org": "other", "": ""} {
		out, err := kp.Apply(rawRecord(t, kp.Raw, map[string]any{"campaign_id": id}))
		if err != nil {
			t.Fatal(err)
		}
		if out["campaign_id"] != want {
			t.Errorf("campaign_id %q became %q, want %q", id, out["campaign_id"], want)
		}
	}
}

// The same installation gets unrelated pseudonyms in each consent category, and
// in each kind outside every category, so no one can join them.
func TestPseudonymsAreSeparatedByConsentCategory(t *testing.T) {
	scopes := map[string]string{}
	for _, kind := range schemas.MustLoad().Kinds() {
		kp, _, ps, _ := newPolicyOf(t, kind)
		if _, err := kp.Apply(rawRecord(t, kp.Raw, nil)); err != nil {
			t.Fatal(err)
		}
		for _, c := range ps.calls {
			if strings.HasSuffix(strings.SplitN(c, "=", 2)[0], "/installation_id") {
				scopes[kind] = strings.SplitN(c, "/", 2)[0]
			}
		}
		// PseudonymScope, which the privacy tab states, is the scope the policy uses.
		if got := kp.PseudonymScope(); got != scopes[kind] {
			t.Errorf("%s: PseudonymScope() = %q, the pseudonymizer was called in scope %q", kind, got, scopes[kind])
		}
	}
	want := map[string]string{"playback": "playback", "hosted": "playback", "crash": "crash", "marketing": "marketing",
		"integration": "integration", "serverinfo": "serverinfo"}
	if !reflect.DeepEqual(scopes, want) {
		t.Errorf("pseudonym scope of installation_id by kind = %v, want %v", scopes, want)
	}
}

func TestApplyLeavesNoDroppedValueInTheCleanRecord(t *testing.T) {
	kp, _, _ := newPolicy(t)
	// Every field the schema drops or turns into a location, plus those that must be.
	dropped := map[string]bool{}
	for _, f := range mustDropFields {
		dropped[f] = true
	}
	for _, f := range kp.Raw.Fields {
		if f.Privacy == "drop" || strings.HasPrefix(f.Privacy, "geo:") {
			dropped[f.Name] = true
		} else if dropped[f.Name] {
			t.Errorf("raw field %s must be dropped but is annotated %q", f.Name, f.Privacy)
		}
	}
	for _, c := range applyCases {
		in := rawRecord(t, kp.Raw, c.change)
		out, err := kp.Apply(in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		js, _ := json.Marshal(out)
		for f := range dropped {
			v, _ := in[f].(string)
			if v == "" {
				continue
			}
			if _, ok := out[f]; ok {
				t.Errorf("%s: clean record has field %s", c.name, f)
			}
			for k, ov := range out {
				if s := fmt.Sprint(ov); strings.Contains(s, v) {
					t.Errorf("%s: value of dropped field %s (%q) appears in clean field %s = %q", c.name, f, v, k, s)
				}
			}
			if bytes.Contains(js, []byte(v)) {
				t.Errorf("%s: value of dropped field %s (%q) appears in the clean record %s", c.name, f, v, js)
			}
		}
	}
}

// Redact blanks exactly the fields annotated drop, except a required flag, and
// what it leaves is a record of the raw schema that still encodes and decodes: a
// dead letter that can be replayed.
func TestRedactBlanksTheDroppedFieldsAndNothingElse(t *testing.T) {
	reg := schemas.MustLoad()
	for _, kind := range reg.Kinds() {
		kp, _, _, _ := newPolicyOf(t, kind)
		in := rawRecord(t, kp.Raw, nil)
		rec, err := kp.Raw.ToFlat(in)
		if err != nil {
			t.Fatal(err)
		}
		before := slices.Clone(rec)
		names := kp.Redact(rec)
		var want []string
		for i, f := range kp.Raw.Fields {
			switch {
			case f.Privacy != "drop" || f.Require:
				if rec[i] != before[i] {
					t.Errorf("%s: Redact changed field %s (%s) from %v to %v", kind, f.Name, f.Privacy, before[i], rec[i])
				}
			case rec[i] != (schemas.Value{}):
				t.Errorf("%s: dropped field %s = %v after Redact, want its zero value", kind, f.Name, rec[i])
			default:
				want = append(want, f.Name)
			}
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: Redact named %v, want the dropped fields %v", kind, names, want)
		}
		msg, err := kp.Raw.AppendFlat(nil, rec)
		if err != nil {
			t.Fatalf("%s: the redacted record does not encode: %v", kind, err)
		}
		got, decoded, err := reg.Decode(msg)
		if err != nil || got.Fingerprint != kp.Raw.Fingerprint {
			t.Fatalf("%s: the redacted record decodes as %v, %v", kind, got, err)
		}
		for _, f := range want {
			if v := in[f]; v != "" && bytes.Contains(msg, []byte(fmt.Sprint(v))) {
				t.Errorf("%s: the redacted record holds the value of %s, %q", kind, f, v)
			}
			if decoded[f] != "" {
				t.Errorf("%s: redacted field %s decodes as %v", kind, f, decoded[f])
			}
		}
	}
	kp, _, _, _ := newPolicyOf(t, "playback")
	want := []string{"player_name", "file_path", "file_name", "library_name", "title"}
	if names := kp.Redact(make([]schemas.Value, len(kp.Raw.Fields))); !slices.Equal(names, want) {
		t.Errorf("Redact of playback named %v, want %v", names, want)
	}
}

func TestApplyDoesNotModifyItsInput(t *testing.T) {
	kp, _, _ := newPolicy(t)
	for _, c := range applyCases {
		in := rawRecord(t, kp.Raw, c.change)
		before := map[string]any{}
		for k, v := range in {
			before[k] = v
		}
		out, err := kp.Apply(in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !reflect.DeepEqual(in, before) {
			t.Errorf("%s: Apply modified its input:\n got %v\nwant %v", c.name, in, before)
		}
		out["installation_id"] = "changed"
		if in["installation_id"] == "changed" {
			t.Errorf("%s: the clean record shares storage with the raw one", c.name)
		}
	}
}

func TestApplyPseudonymizesIdentifiersAndLocatesFromIPAndZip(t *testing.T) {
	kp, ps, geo := newPolicy(t)
	out, err := kp.Apply(rawRecord(t, kp.Raw, nil))
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{"playback/installation_id=srv-7c1d2e4f9a", "playback/account_id=acct-31337"}
	if !reflect.DeepEqual(ps.calls, wantCalls) {
		t.Errorf("pseudonymizer calls = %v, want %v", ps.calls, wantCalls)
	}
	if want := [][2]string{{"81.2.69.160", "10027"}}; !reflect.DeepEqual(geo.calls, want) {
		t.Errorf("locator calls = %v, want %v", geo.calls, want)
	}
	if out["country"] != "US" || out["region"] != "US-NY" {
		t.Errorf("country, region = %v, %v; want the locator's US, US-NY", out["country"], out["region"])
	}

	ps.calls = nil
	out, err = kp.Apply(rawRecord(t, kp.Raw, map[string]any{"account_id": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if out["account_id"] != "" {
		t.Errorf("an empty account id became %q, want it to stay empty", out["account_id"])
	}
	if want := []string{"playback/installation_id=srv-7c1d2e4f9a"}; !reflect.DeepEqual(ps.calls, want) {
		t.Errorf("pseudonymizer calls = %v, want %v (an empty id is not pseudonymized)", ps.calls, want)
	}
}

func TestApplyFailsWhenThePseudonymizerFails(t *testing.T) {
	kp, ps, _ := newPolicy(t)
	ps.err = errors.New("key store unreachable")
	out, err := kp.Apply(rawRecord(t, kp.Raw, nil))
	if !errors.Is(err, ps.err) {
		t.Fatalf("Apply error = %v, want it to wrap %v", err, ps.err)
	}
	if out != nil {
		t.Errorf("Apply returned a partial record %v with its error", out)
	}
}

func TestApplyRejectsAnEventTimeThatIsNotATimestamp(t *testing.T) {
	kp, _, _ := newPolicy(t)
	in := rawRecord(t, kp.Raw, nil)
	in["event_time"] = int64(1795526345123)
	if _, err := kp.Apply(in); err == nil || !strings.Contains(err.Error(), "event_time") {
		t.Errorf("Apply error = %v, want one naming event_time", err)
	}
}

// ---- Vocabulary -------------------------------------------------------------------

func TestEveryTreatmentIsDescribed(t *testing.T) {
	vocab := privacy.Vocabulary()
	if !sort.StringsAreSorted(vocab) {
		t.Errorf("Vocabulary() = %v is not sorted", vocab)
	}
	for _, name := range vocab {
		tr, err := privacy.ParseTreatment(name)
		if err != nil {
			t.Errorf("ParseTreatment(%q) of a vocabulary word: %v", name, err)
			continue
		}
		if tr.String() != name {
			t.Errorf("ParseTreatment(%q).String() = %q", name, tr.String())
		}
		if strings.TrimSpace(privacy.Describe(tr)) == "" {
			t.Errorf("treatment %q has no description", name)
		}
	}
	// Every treatment the real schemas use is in the vocabulary.
	for _, s := range schemas.MustLoad().All() {
		for _, f := range s.Fields {
			if s.Stage == schemas.Raw && !contains(vocab, f.Privacy) {
				t.Errorf("%s: field %s uses %q, which the vocabulary lacks", s.File, f.Name, f.Privacy)
			}
		}
	}
}

func TestParseTreatment(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    privacy.Treatment
		wantErr string
	}{
		{"a plain treatment has no rule", "keep", privacy.Treatment{Name: "keep"}, ""},
		{"a generalization names its rule", "generalize:hour", privacy.Treatment{Name: "generalize", Rule: "hour"}, ""},
		{"a geo treatment names its source", "geo:zip", privacy.Treatment{Name: "geo", Rule: "zip"}, ""},
		{"hosted-only keeps its dash", "hosted-only", privacy.Treatment{Name: "hosted-only"}, ""},
		{"an empty annotation is missing", "", privacy.Treatment{}, "no privacy annotation"},
		{"a plain hash is not a treatment", "hash", privacy.Treatment{}, `unknown privacy treatment "hash" (known: `},
		{"an unknown generalization rule is refused", "generalize:year", privacy.Treatment{}, `unknown privacy treatment "generalize:year"`},
		{"treatments are case-sensitive", "Keep", privacy.Treatment{}, `unknown privacy treatment "Keep"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := privacy.ParseTreatment(tt.in)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Errorf("ParseTreatment(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseTreatment(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
		})
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
