package privacytab_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/veiltelemetry/veil/internal/audit"
	"github.com/veiltelemetry/veil/internal/privacy"
	"github.com/veiltelemetry/veil/internal/privacytab"
	"github.com/veiltelemetry/veil/schemas"
)

// Every statement of a row comes from the compiled policy: a kept string names
// every value of its domain with the spellings that become it, and what happens
// to any other value; a generalized field lists every bucket its rule writes.
func TestEveryRowSaysWhatThePolicyHolds(t *testing.T) {
	reg := schemas.MustLoad()
	tab := docsTab(t)
	checked := map[string]int{}
	for _, ev := range tab.Events {
		raw := reg.Latest(schemas.Raw, ev.Kind)
		for i, f := range ev.Fields {
			sf := raw.Fields[i]
			if sf.Name != f.Name {
				t.Fatalf("%s: row %d is %s, the schema's field %s", ev.Kind, i, f.Name, sf.Name)
			}
			tr, err := privacy.ParseTreatment(f.Privacy)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case sf.Domain != nil:
				checked["domain"]++
				d := sf.Domain
				if !strings.Contains(f.Treatment, d.Describe()) {
					t.Errorf("%s.%s: %q does not state its domain %q", ev.Kind, f.Name, f.Treatment, d.Describe())
				}
				for _, v := range d.Values {
					if !strings.Contains(f.Treatment, v) {
						t.Errorf("%s.%s: the row does not name value %q of domain %s", ev.Kind, f.Name, v, d.Name)
					}
					for _, sp := range d.Spellings(v) {
						if !strings.Contains(f.Treatment, sp) {
							t.Errorf("%s.%s: the row does not say that %q becomes %q", ev.Kind, f.Name, sp, v)
						}
					}
				}
				if other := strings.Contains(f.Treatment, "becomes “other”"); other == d.Refuse {
					t.Errorf("%s.%s (domain %s, refuse %v): %q", ev.Kind, f.Name, d.Name, d.Refuse, f.Treatment)
				}
			case tr.Name == "generalize":
				checked["buckets"]++
				b := privacy.Buckets(tr)
				if len(b) == 0 {
					t.Errorf("%s.%s: no buckets for %s", ev.Kind, f.Name, tr)
				}
				for _, s := range b {
					if !strings.Contains(f.Treatment, s) {
						t.Errorf("%s.%s: %q lacks the buckets %q", ev.Kind, f.Name, f.Treatment, s)
					}
				}
			case tr.Name == "keep" && len(f.Values) > 0:
				checked["enum"]++
				if !strings.Contains(f.Treatment, "allows no value but those listed") {
					t.Errorf("%s.%s: %q", ev.Kind, f.Name, f.Treatment)
				}
			}
		}
	}
	if checked["domain"] < 10 || checked["buckets"] < 6 || checked["enum"] < 5 {
		t.Errorf("checked %v rows; want every kind of row checked", checked)
	}
	// The families show on the page.
	for field, want := range map[string]string{
		"video_codec": "modern (from av01, av1, h.265, h265, hev1, hevc, hvc1, vp9, x265)",
		"container":   "mkv (from matroska, mk3d, mka, webm)",
		"audio_codec": "lossless (from alac, dolby truehd",
	} {
		if f := field_(t, tab, "playback", field); !strings.Contains(f.Treatment, want) {
			t.Errorf("playback.%s: %q lacks %q", field, f.Treatment, want)
		}
	}
}

func field_(t *testing.T, tab *privacytab.Tab, kind, name string) privacytab.Field {
	t.Helper()
	for _, f := range event(t, tab, kind).Fields {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("%s has no field %s", kind, name)
	return privacytab.Field{}
}

// Pseudonym rows and the linking section say what the policy's scopes and the
// key settings make of pseudonyms; other settings give other words.
func TestLinkingFollowsThePolicyAndTheKeySettings(t *testing.T) {
	reg := schemas.MustLoad()
	tab := docsTab(t)
	l := tab.Linking
	if l.Epoch != "30 days" || l.EpochSeconds != 30*24*3600 || l.RetentionEpochs != 3 {
		t.Errorf("linking %+v, want the enricher's defaults: 30 days, 3 epochs", l)
	}
	pol := demoPolicy(t, reg, docsKey[:], docsTime)
	inScope := map[string]string{}
	for _, s := range l.Scopes {
		for _, k := range s.Kinds {
			if prev, dup := inScope[k]; dup {
				t.Errorf("kind %s is in scopes %s and %s", k, prev, s.Name)
			}
			inScope[k] = s.Name
		}
	}
	for _, ev := range tab.Events {
		kp, _ := pol.For(reg.Latest(schemas.Raw, ev.Kind))
		for _, f := range ev.Fields {
			if f.Privacy != "pseudonymize" {
				continue
			}
			if inScope[ev.Kind] != kp.PseudonymScope() {
				t.Errorf("%s is in scope %q on the tab, %q in the policy", ev.Kind, inScope[ev.Kind], kp.PseudonymScope())
			}
			for _, want := range []string{"scope “" + kp.PseudonymScope() + "”", "one key epoch of 30 days", "3 epochs after the epoch began"} {
				if !strings.Contains(f.Treatment, want) {
					t.Errorf("%s.%s: %q lacks %q", ev.Kind, f.Name, f.Treatment, want)
				}
			}
		}
	}
	if inScope["playback"] != "playback" || inScope["hosted"] != "playback" || inScope["crash"] != "crash" {
		t.Errorf("scopes by kind %v: playback and hosted share one, crash has its own", inScope)
	}
	other := docsOptions()
	other.KeyPeriod, other.KeyRetention = 7*24*time.Hour, 2
	weekly, err := privacytab.Build(reg, other)
	if err != nil {
		t.Fatal(err)
	}
	if f := field_(t, weekly, "crash", "installation_id"); !strings.Contains(f.Treatment, "one key epoch of 7 days") || !strings.Contains(f.Treatment, "2 epochs after") {
		t.Errorf("with weekly keys kept for 2 epochs: %q", f.Treatment)
	}
	if !strings.Contains(strings.Join(weekly.Linking.Statements, " "), "about 14 days after its epoch began") {
		t.Errorf("with weekly keys kept for 2 epochs: %q", weekly.Linking.Statements)
	}
	for _, n := range weekly.Notes {
		if strings.Contains(n, "defaults") {
			t.Errorf("a tab built with explicit key settings says they are the defaults: %q", n)
		}
	}
	if _, err := privacytab.Build(reg, privacytab.Options{KeyPeriod: time.Minute}); err == nil {
		t.Errorf("a one-minute key period was accepted")
	}
}

// The promise is derived: it names every field the policy removes, the fields
// turned into a location and the pseudonymized ones, and states the audit's
// recorded worst-seed figures.
func TestThePromiseIsDerived(t *testing.T) {
	tab := docsTab(t)
	all := strings.Join(tab.Promise, "\n")
	for _, r := range append(tab.NeverKept, tab.Located...) {
		if !strings.Contains(all, r.Field) {
			t.Errorf("the promise does not name %s", r.Field)
		}
	}
	for _, s := range tab.Linking.Scopes {
		for _, f := range s.Fields {
			if !strings.Contains(all, f) {
				t.Errorf("the promise does not name pseudonymized %s", f)
			}
		}
	}
	rec, err := audit.Recorded()
	if err != nil {
		t.Fatal(err)
	}
	one, _ := rec.Targeted()
	for _, want := range []string{
		fmt.Sprintf("%.2f%% of the films (%d)", 100*one.Worst.UniqueTitleShare, one.Worst.UniqueTitles),
		fmt.Sprintf("a median of %d films (at least %d in every library)", one.Worst.KMedian, one.Clean.KMedian.Min),
		fmt.Sprintf("worst of %d simulated libraries", len(rec.Seeds)),
		strings.Join(rec.Tuple, ", "),
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the promise lacks the audit's %q:\n%s", want, all)
		}
	}
	if tab.Audit == nil || len(tab.Audit.Rows) != len(rec.Scenarios) || !tab.Audit.Rows[0].Targeted || tab.Audit.Rows[0].WorstSeed != one.WorstSeed ||
		tab.Audit.Command != audit.Command {
		t.Errorf("audit section %+v does not follow the recorded result", tab.Audit)
	}
	// No claim the code does not enforce.
	for _, bad := range []string{"sold", "cannot be recognised", "never is"} {
		if strings.Contains(all, bad) {
			t.Errorf("the promise says %q, which no code enforces", bad)
		}
	}
	// A registry without playback, pseudonyms or drops promises none of them.
	ping, err := privacytab.Build(must(schemas.LoadFS(os.DirFS("testdata/good/unknown-kind-with-a-consent-category"))), privacytab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ping.Audit != nil || len(ping.Linking.Scopes) != 0 {
		t.Errorf("a ping-only tab has an audit %v or scopes %v", ping.Audit, ping.Linking.Scopes)
	}
	for _, p := range ping.Promise {
		for _, bad := range []string{"films", "pseudonym", "removes"} {
			if strings.Contains(p, bad) {
				t.Errorf("a ping-only tab promises %q: %q", bad, p)
			}
		}
	}
}

// The linking and audit sections reach every rendering.
func TestLinkingAndAuditAreRendered(t *testing.T) {
	tab := docsTab(t)
	page, doc, md := render(t, tab)
	for _, st := range append(slices.Clone(tab.Linking.Statements), tab.Audit.Statements...) {
		if !strings.Contains(doc, st) {
			t.Errorf("JSON lacks %q", st)
		}
		if !strings.Contains(page, htmlEscape(st)) {
			t.Errorf("HTML lacks %q", st)
		}
		if !strings.Contains(md, mdEscape(st)) {
			t.Errorf("Markdown lacks %q", st)
		}
	}
	for _, r := range tab.Audit.Rows {
		row := fmt.Sprintf("%d (%s)", r.UniqueTitles, r.UniqueShare)
		if !strings.Contains(page, row) || !strings.Contains(md, row) {
			t.Errorf("a rendering lacks the audit row %q", row)
		}
	}
	if !strings.Contains(md, "`"+audit.Command+"`") || !strings.Contains(page, "<code>"+htmlEscape(audit.Command)+"</code>") {
		t.Errorf("a rendering lacks the audit command")
	}
}

func htmlEscape(s string) string {
	var b bytes.Buffer
	if err := privacytab.HTML(&b, &privacytab.Tab{Notes: []string{s}, Linking: privacytab.Linking{}}, ""); err != nil {
		panic(err)
	}
	out := between(b.String(), "<footer>\n<p>", "</p>")
	return strings.TrimPrefix(out, "<footer>\n<p>")
}

func mdEscape(s string) string {
	var b bytes.Buffer
	if err := privacytab.Markdown(&b, &privacytab.Tab{Notes: []string{s}}); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(between(b.String(), "## About the examples\n\n- ", "\n")[len("## About the examples\n\n- "):], "\n")
}

// Build refuses to state a result measured under another policy.
func TestBuildRefusesAnAuditOfAnotherPolicy(t *testing.T) {
	m := fstest.MapFS{}
	src := os.DirFS("../../schemas")
	for _, stage := range []string{"raw", "clean"} {
		names, _ := fs.Glob(src, stage+"/*.avsc")
		for _, name := range names {
			data, err := fs.ReadFile(src, name)
			if err != nil {
				t.Fatal(err)
			}
			text := string(data)
			if name == "raw/playback.v1.avsc" {
				text = strings.Replace(text, `"name": "audio_codec", "type": "string", "default": "", "privacy": "keep", "domain": "audio_codec",`,
					`"name": "audio_codec", "type": "string", "default": "", "privacy": "drop",`, 1)
			}
			if name == "clean/playback.v1.avsc" {
				text = regexp.MustCompile(`(?m)^\s*\{"name": "audio_codec",.*\},?\n`).ReplaceAllString(text, "")
			}
			m[name] = &fstest.MapFile{Data: []byte(text)}
		}
	}
	reg, err := schemas.LoadFS(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := privacytab.Build(reg, docsOptions()); err == nil || !strings.Contains(err.Error(), "was measured under policy") {
		t.Fatalf("Build = %v, want a refusal to state an audit of another policy", err)
	}
}
