package privacytab_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/catalog"
	"github.com/veiltelemetry/veil/internal/geo"
	"github.com/veiltelemetry/veil/internal/privacy"
	"github.com/veiltelemetry/veil/internal/privacytab"
	"github.com/veiltelemetry/veil/internal/pseudonym"
	"github.com/veiltelemetry/veil/schemas"
)

func event(t *testing.T, tab *privacytab.Tab, kind string) privacytab.Event {
	t.Helper()
	for _, e := range tab.Events {
		if e.Kind == kind {
			return e
		}
	}
	t.Fatalf("the tab has no event %q", kind)
	return privacytab.Event{}
}

func TestEveryFieldOfEveryRawSchemaIsInTheTab(t *testing.T) {
	reg := schemas.MustLoad()
	tab := docsTab(t)
	if len(tab.Events) != len(reg.Kinds()) {
		t.Errorf("the tab has %d events, the registry %d kinds", len(tab.Events), len(reg.Kinds()))
	}
	for _, s := range reg.All() {
		if s.Stage != schemas.Raw {
			continue
		}
		// Every version a device may send, not just the latest: the tab must list
		// every field collected. (Today each kind has one version.)
		ev := event(t, tab, s.Kind)
		var names []string
		for _, f := range ev.Fields {
			names = append(names, f.Name)
		}
		for _, f := range s.Fields {
			if !slices.Contains(names, f.Name) {
				t.Errorf("%s: field %q is not on the tab", s.File, f.Name)
			}
		}
		if s == reg.Latest(schemas.Raw, s.Kind) && len(names) != len(s.Fields) {
			t.Errorf("%s: the tab lists %d fields, the schema has %d: %v", s.File, len(names), len(s.Fields), names)
		}
	}
	for _, ev := range tab.Events {
		for _, f := range ev.Fields {
			if f.Doc == "" || f.Treatment == "" || f.Privacy == "" {
				t.Errorf("%s.%s: doc %q, treatment %q, privacy %q: none may be empty", ev.Kind, f.Name, f.Doc, f.Treatment, f.Privacy)
			}
			if f.Leaves != (len(f.KeptAs) > 0) || f.Leaves == (f.Privacy == "drop") {
				t.Errorf("%s.%s (%s): leaves the enricher = %v, kept as %v", ev.Kind, f.Name, f.Privacy, f.Leaves, f.KeptAs)
			}
		}
	}
}

// demoPolicy compiles the policy the way Build should, independently of it: a key
// store over its own directory holding the same demonstration key, no IP database.
func demoPolicy(t *testing.T, reg *schemas.Registry, key []byte, at time.Time) *privacy.Policy {
	t.Helper()
	dir := t.TempDir()
	keys, err := pseudonym.Open(pseudonym.Config{Dir: dir, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, fmt.Sprintf("epoch-%d.key", keys.Epoch(at)))
	if err := os.WriteFile(file, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := privacy.New(reg, privacy.Deps{Pseudonyms: keys, Geo: geo.Locator{}, Catalog: catalog.Demo()})
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

func asMap(r privacytab.Record) map[string]any {
	m := map[string]any{}
	for _, v := range r {
		m[v.Field] = v.V
	}
	return m
}

// sameRecord compares native records: the same keys, values of the same Go type,
// times equal as instants.
func sameRecord(t *testing.T, what string, have, want map[string]any) {
	t.Helper()
	for k, w := range want {
		h, ok := have[k]
		switch {
		case !ok:
			t.Errorf("%s: field %q missing, want %v", what, k, w)
		case reflect.TypeOf(h) != reflect.TypeOf(w):
			t.Errorf("%s: field %q is %T %v, want %T %v", what, k, h, h, w, w)
		case reflect.TypeOf(w) == reflect.TypeOf(time.Time{}):
			if !h.(time.Time).Equal(w.(time.Time)) {
				t.Errorf("%s: field %q = %v, want %v", what, k, h, w)
			}
		case !reflect.DeepEqual(h, w):
			t.Errorf("%s: field %q = %#v, want %#v", what, k, h, w)
		}
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: extra field %q", what, k)
		}
	}
}

func TestTheExampleIsTheSampleAndWhatKindPolicyApplyReturnsForIt(t *testing.T) {
	reg := schemas.MustLoad()
	tab := docsTab(t)
	pol := demoPolicy(t, reg, docsKey[:], docsTime)
	for _, ev := range tab.Events {
		t.Run(ev.Kind, func(t *testing.T) {
			raw := reg.Latest(schemas.Raw, ev.Kind)
			kp, ok := pol.For(raw)
			if !ok {
				t.Fatalf("no policy for %s", raw.File)
			}
			sample, err := privacytab.Sample(raw)
			if err != nil {
				t.Fatalf("Sample: %v", err)
			}
			for _, f := range raw.Fields { // the sample is the schema's examples
				if w, ok := sample[f.Name].(time.Time); ok {
					if w.UnixMilli() != int64(f.Example.(float64)) {
						t.Errorf("sample %s = %v, example %v", f.Name, w, f.Example)
					}
				} else if fmt.Sprint(sample[f.Name]) != fmt.Sprint(f.Example) && fmt.Sprintf("%.0f", f.Example) != fmt.Sprint(sample[f.Name]) {
					t.Errorf("sample %s = %v, example %v", f.Name, sample[f.Name], f.Example)
				}
			}
			sameRecord(t, "example sent", asMap(ev.Example.Sent), sample)
			if r := kp.DropReason(sample); r != "" || ev.Example.DroppedBecause != "" {
				t.Fatalf("the example is dropped (policy: %q, tab: %q); the tab should show a kept example", r, ev.Example.DroppedBecause)
			}
			want, err := kp.Apply(sample)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			sameRecord(t, "example kept", asMap(ev.Example.Kept), want)
			var order []string
			for _, v := range ev.Example.Kept {
				order = append(order, v.Field)
			}
			var cleanOrder []string
			for _, f := range kp.Clean.Fields {
				cleanOrder = append(cleanOrder, f.Name)
			}
			if !slices.Equal(order, cleanOrder) {
				t.Errorf("kept example in order %v, clean schema %v", order, cleanOrder)
			}
			for _, f := range ev.Fields { // each row shows the policy's values
				for _, v := range f.Kept {
					sameRecord(t, "row "+f.Name, map[string]any{v.Field: v.V}, map[string]any{v.Field: want[v.Field]})
				}
			}
		})
	}
}

func TestTheKeptExampleHoldsNoValueOfARemovedOrTransformedField(t *testing.T) {
	for _, ev := range docsTab(t).Events {
		kept, err := json.Marshal(ev.Example.Kept)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, f := range ev.Fields {
			if f.Privacy == "keep" || f.Privacy == "hosted-only" { // the demo catalog holds the examples' ids
				continue
			}
			sent, err := json.Marshal(f.Sent)
			if err != nil {
				t.Fatal(err)
			}
			needle := strings.Trim(string(sent), `"`)
			if len(needle) < 4 { // too short to tell a leak from a coincidence
				t.Logf("%s.%s: example %s too short to check", ev.Kind, f.Name, sent)
				continue
			}
			checked++
			if strings.Contains(string(kept), needle) {
				t.Errorf("%s.%s (%s): the kept example contains the sent value %s:\n%s", ev.Kind, f.Name, f.Privacy, needle, kept)
			}
			if f.Privacy == "drop" && len(f.Kept) != 0 {
				t.Errorf("%s.%s is dropped but its row keeps %v", ev.Kind, f.Name, f.Kept)
			}
		}
		if checked == 0 {
			t.Errorf("%s: no removed or transformed field was checked", ev.Kind)
		}
	}
}

func TestPseudonymsAreComputedWithTheGivenKey(t *testing.T) {
	reg := schemas.MustLoad()
	other := docsOptions()
	other.DemoKey = make([]byte, 32)
	a, b := docsTab(t), must(privacytab.Build(reg, other))
	for i, ev := range a.Events {
		for j, v := range ev.Example.Kept {
			w := b.Events[i].Example.Kept[j]
			pseudonymized := slices.ContainsFunc(ev.Fields, func(f privacytab.Field) bool {
				return f.Privacy == "pseudonymize" && f.Name == v.Field
			})
			if pseudonymized == (v.V == w.V) {
				t.Errorf("%s.%s: %v under the docs key, %v under another; want a change exactly for pseudonyms", ev.Kind, v.Field, v.V, w.V)
			}
		}
	}
	if _, err := privacytab.Build(reg, privacytab.Options{DemoKey: []byte("short")}); err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Errorf("Build with a 5-byte key: err = %v, want one about 32 bytes", err)
	}
	// A random key (the live page) works too and leaves no key file behind.
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "veil-privacytab-*"))
	if _, err := privacytab.Build(reg, privacytab.Options{}); err != nil {
		t.Fatalf("Build with a random key: %v", err)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "veil-privacytab-*"))
	if len(after) > len(before) {
		t.Errorf("Build left its key directory behind: %v", after)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestConsent(t *testing.T) {
	tab := docsTab(t)
	for _, ev := range tab.Events {
		optOut := slices.Contains(privacy.Categories, ev.Category)
		if ev.OptOut != optOut {
			t.Errorf("%s: category %q, opt-out %v", ev.Kind, ev.Category, ev.OptOut)
		}
		if optOut && !strings.HasPrefix(ev.Consent, "You can turn this off") ||
			!optOut && !strings.HasPrefix(ev.Consent, "This event cannot be turned off individually: ") {
			t.Errorf("%s (category %q): consent sentence %q", ev.Kind, ev.Category, ev.Consent)
		}
	}
	if e := event(t, tab, "serverinfo"); !strings.Contains(e.Consent, "updates") || strings.Contains(e.Consent, "discards") {
		t.Errorf("serverinfo: %q should give its purpose, and nothing about discarding: it requires no field", e.Consent)
	}
	// What the policy enforces is said from the policy: the field an integration
	// event requires.
	if e := event(t, tab, "integration"); !strings.Contains(e.Consent, "integration you enabled") ||
		!strings.Contains(e.Consent, "The enricher discards every such event unless its field user_enabled is true.") {
		t.Errorf("integration: %q should say it is about integrations you enabled, and that events without user_enabled are discarded", e.Consent)
	}
	// Every category users can switch off can be named on the page, whether or
	// not a schema uses it yet.
	for _, c := range privacy.Categories {
		dir := writePing(t, c)
		tab, err := privacytab.Build(must(schemas.LoadFS(os.DirFS(dir))), privacytab.Options{})
		if err != nil {
			t.Errorf("category %s: %v", c, err)
			continue
		}
		if !tab.Events[0].OptOut || !strings.Contains(tab.Events[0].Consent, "“") {
			t.Errorf("category %s: %q", c, tab.Events[0].Consent)
		}
	}
}

// writePing copies the good fixture with another consent category.
func writePing(t *testing.T, category string) string {
	t.Helper()
	dir := t.TempDir()
	src := "testdata/good/unknown-kind-with-a-consent-category"
	for _, stage := range []string{"raw", "clean"} {
		data, err := os.ReadFile(filepath.Join(src, stage, "ping.v1.avsc"))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(data), `"consent": "crash"`, `"consent": "`+category+`"`, 1)
		if err := os.MkdirAll(filepath.Join(dir, stage), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, stage, "ping.v1.avsc"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNeverKeptListsEveryDroppedFieldAndLocatedEveryGeoField(t *testing.T) {
	tab := docsTab(t)
	want := map[string][]string{} // field -> kinds
	located := map[string][]string{}
	for _, ev := range tab.Events {
		for _, f := range ev.Fields {
			switch {
			case f.Privacy == "drop":
				want[f.Name] = append(want[f.Name], ev.Kind)
			case strings.HasPrefix(f.Privacy, "geo:"):
				located[f.Name] = append(located[f.Name], ev.Kind)
			}
		}
	}
	check := func(name string, list []privacytab.Removed, want map[string][]string) {
		have := map[string][]string{}
		for _, r := range list {
			have[r.Field] = r.Kinds
		}
		if !reflect.DeepEqual(have, want) {
			t.Errorf("%s = %v, want %v", name, have, want)
		}
	}
	check("never kept", tab.NeverKept, want)
	check("located", tab.Located, located)
	for _, f := range []string{"file_path", "file_name", "library_name", "title", "email", "server_name"} {
		if _, ok := want[f]; !ok {
			t.Errorf("%s is not among the fields never kept", f)
		}
	}
}

func TestBuildFixtures(t *testing.T) {
	good, err := privacytab.Build(must(schemas.LoadFS(os.DirFS("testdata/good/unknown-kind-with-a-consent-category"))), privacytab.Options{})
	if err != nil {
		t.Fatalf("good fixture: %v", err)
	}
	if e := good.Events[0]; e.Kind != "ping" || e.Title != "Pings" || e.Consent != "You can turn this off with the “Ping data” setting of your server or app." ||
		len(e.Fields) != 2 || e.Fields[1].Sent.V != int32(3) {
		t.Errorf("good fixture: %+v", e)
	}
	bad := []struct{ dir, err string }{
		{"consent-none-without-a-reason", `raw/ping.v1.avsc: consent "none": the schema needs a "consent_reason" saying why this event cannot be turned off`},
		{"category-without-a-setting", `raw/ping.v1.avsc: consent category "crash": the schema names no "consent_setting" that turns it off`},
		{"kind-without-a-title", `raw/ping.v1.avsc: the schema needs a "title" and a "doc"`},
		{"field-without-an-example", `raw/ping.v1.avsc: field "n": no example`},
		{"string-example-of-an-int", `raw/ping.v1.avsc: field "n": example many (string) is not a valid int`},
		{"fractional-example-of-an-int", `raw/ping.v1.avsc: field "n": example 2.5 (float64) is not a valid int`},
		{"enum-example-not-a-symbol", `raw/ping.v1.avsc: the example values do not make a valid event`},
	}
	entries, err := os.ReadDir("testdata/bad")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(bad) {
		t.Errorf("testdata/bad has %d fixtures, the test %d cases", len(entries), len(bad))
	}
	for _, tt := range bad {
		t.Run(tt.dir, func(t *testing.T) {
			reg, err := schemas.LoadFS(os.DirFS(filepath.Join("testdata/bad", tt.dir)))
			if err != nil {
				t.Fatalf("LoadFS: %v", err)
			}
			_, err = privacytab.Build(reg, privacytab.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Build: %v\nwant an error containing %q", err, tt.err)
			}
		})
	}
}
