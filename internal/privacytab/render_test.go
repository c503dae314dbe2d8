package privacytab_test

import (
	"bytes"
	"encoding/json"
	"html"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/veiltelemetry/veil/internal/privacytab"
	"github.com/veiltelemetry/veil/schemas"
)

func render(t *testing.T, tab *privacytab.Tab) (htmlPage, jsonDoc, markdown string) {
	t.Helper()
	var h, j, m bytes.Buffer
	if err := privacytab.HTML(&h, tab, "privacy.json"); err != nil {
		t.Fatalf("HTML: %v", err)
	}
	if err := privacytab.JSON(&j, tab); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	if err := privacytab.Markdown(&m, tab); err != nil {
		t.Fatalf("Markdown: %v", err)
	}
	return h.String(), j.String(), m.String()
}

// between returns s from the first start to the next end after it, or "".
func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s[len(start):], end); j >= 0 {
		return s[:len(start)+j]
	}
	return s
}

type jsonTab struct {
	Events []struct {
		Kind   string `json:"kind"`
		Fields []struct {
			Name string `json:"name"`
		} `json:"fields"`
		Example struct {
			Sent map[string]any `json:"sent"`
			Kept map[string]any `json:"kept"`
		} `json:"example"`
	} `json:"events"`
}

func TestEveryFieldOfEveryRawSchemaIsInEveryRendering(t *testing.T) {
	tab := docsTab(t)
	page, doc, md := render(t, tab)
	var parsed jsonTab
	if err := json.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatalf("the JSON rendering does not parse: %v", err)
	}
	for _, s := range schemas.MustLoad().All() {
		if s.Stage != schemas.Raw {
			continue
		}
		ev := event(t, tab, s.Kind)
		section := between(page, `<section class="event" id="event-`+s.Kind+`"`, "</section>")
		mdSection := between(md, "\n## "+ev.Title+"\n", "\n## ")
		var jsonFields []string
		var sent map[string]any
		for _, e := range parsed.Events {
			if e.Kind == s.Kind {
				for _, f := range e.Fields {
					jsonFields = append(jsonFields, f.Name)
				}
				sent = e.Example.Sent
			}
		}
		if section == "" || mdSection == "" || jsonFields == nil {
			t.Fatalf("%s: no section in HTML (%v), Markdown (%v) or JSON (%v)", s.Kind, section != "", mdSection != "", jsonFields != nil)
		}
		for _, f := range s.Fields {
			if !strings.Contains(section, `<th scope="row"><code>`+f.Name+`</code></th>`) {
				t.Errorf("HTML: %s: no row for field %q", s.Kind, f.Name)
			}
			if !strings.Contains(section, html.EscapeString(f.Doc)) {
				t.Errorf("HTML: %s: the doc of %q is missing", s.Kind, f.Name)
			}
			if !strings.Contains(mdSection, "\n| `"+f.Name+"` | ") {
				t.Errorf("Markdown: %s: no row for field %q", s.Kind, f.Name)
			}
			if !strings.Contains(mdSection, `"`+f.Name+`": `) {
				t.Errorf("Markdown: %s: field %q is not in the example", s.Kind, f.Name)
			}
			if !contains(jsonFields, f.Name) {
				t.Errorf("JSON: %s: field %q is not listed", s.Kind, f.Name)
			}
			if _, ok := sent[f.Name]; !ok {
				t.Errorf("JSON: %s: field %q is not in the example sent", s.Kind, f.Name)
			}
		}
	}
	for _, r := range tab.NeverKept {
		never := between(page, `id="never-kept"`, "</section>")
		if !strings.Contains(never, "<code>"+r.Field+"</code>") {
			t.Errorf("HTML: %s is not in the never-kept list", r.Field)
		}
		if !strings.Contains(between(md, "## Never kept", "\n## "), "- `"+r.Field+"`: ") {
			t.Errorf("Markdown: %s is not in the never-kept list", r.Field)
		}
	}
	for _, p := range tab.Promise {
		if !strings.Contains(page, html.EscapeString(p)) || !strings.Contains(md, p) {
			t.Errorf("the promise %q is missing from a rendering", p)
		}
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

func TestHTMLIsSelfContainedAndEscapesEverything(t *testing.T) {
	tab := docsTab(t)
	page, _, _ := render(t, tab)
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "src=", "@import", "url(", `href="http`, `href="//`} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q; it must load nothing but itself", bad)
		}
	}
	for _, want := range []string{"<!doctype html>", `<html lang="en">`, "<main>", "<th scope=\"col\">what we do with it</th>",
		"<th scope=\"col\">example sent by the device</th>", "<th scope=\"col\">what we keep</th>", `<a href="privacy.json">JSON</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Schema text is data: a doc or an example with markup is shown, not run.
	ev := &tab.Events[0]
	ev.Doc = `<script>alert("doc")</script>`
	ev.Fields[0].Doc = `<img src=x onerror=alert(1)>`
	ev.Fields[0].Sent.V = `"><b>sent</b>`
	ev.Example.Sent[0].V = `</pre><script>alert(2)</script>`
	page, _, md := render(t, tab)
	for _, bad := range []string{"<script", "<img", "<b>sent"} {
		if strings.Contains(page, bad) {
			t.Errorf("HTML: %q reached the page unescaped", bad)
		}
	}
	// Markdown: running text is escaped; values are inside code spans and JSON
	// blocks, where Markdown shows markup as text.
	for _, want := range []string{"&lt;script&gt;alert(\"doc\")&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;", "`\"><b>sent</b>`"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown: want %q in the document", want)
		}
	}
	for _, bad := range []string{`<script>alert("doc")`, "<img src=x"} {
		if strings.Contains(md, bad) {
			t.Errorf("Markdown: %q reached the document unescaped", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;doc&#34;)&lt;/script&gt;") {
		t.Errorf("HTML: the escaped doc is missing")
	}
}

func TestJSONFieldNamesAreStable(t *testing.T) {
	_, doc, _ := render(t, docsTab(t))
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &top); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]json.RawMessage) []string {
		var k []string
		for n := range m {
			k = append(k, n)
		}
		sort.Strings(k)
		return k
	}
	if k, want := keys(top), []string{"events", "linking", "located_then_removed", "never_kept", "notes", "promise", "reidentification_audit", "title"}; !reflect.DeepEqual(k, want) {
		t.Errorf("top-level keys %v, want %v", k, want)
	}
	var events []map[string]json.RawMessage
	if err := json.Unmarshal(top["events"], &events); err != nil {
		t.Fatal(err)
	}
	if k, want := keys(events[0]), []string{"clean_schema", "consent", "consent_category", "doc", "example", "fields", "kind", "opt_out", "raw_schema", "title"}; !reflect.DeepEqual(k, want) {
		t.Errorf("event keys %v, want %v", k, want)
	}
	var fields []map[string]json.RawMessage
	if err := json.Unmarshal(events[0]["fields"], &fields); err != nil {
		t.Fatal(err)
	}
	if k, want := keys(fields[0]), []string{"doc", "example_kept", "example_sent", "kept_as", "kept_with", "leaves_enricher", "name", "privacy", "treatment", "type", "values"}; !reflect.DeepEqual(k, want) {
		t.Errorf("field keys %v, want %v", k, want)
	}
	var example map[string]json.RawMessage
	if err := json.Unmarshal(events[0]["example"], &example); err != nil {
		t.Fatal(err)
	}
	if k, want := keys(example), []string{"dropped_because", "kept", "sent"}; !reflect.DeepEqual(k, want) {
		t.Errorf("example keys %v, want %v", k, want)
	}
	// Lists are [] when empty, never null, so clients need no special case.
	if strings.Contains(doc, "null") {
		t.Errorf("the JSON contains null")
	}
	// Timestamps are epoch milliseconds, as devices send them.
	if !strings.Contains(doc, `"event_time": 1795526345123`) || !strings.Contains(doc, `"event_hour": 1795525200000`) {
		t.Errorf("the JSON does not carry timestamps as epoch milliseconds")
	}
}

func TestMarkdownTableCellsSurvivePipesAndBackticks(t *testing.T) {
	tab := docsTab(t)
	ev := &tab.Events[0]
	ev.Fields[0].Doc = "a | b"
	ev.Fields[0].Sent.V = "x|`y`"
	_, _, md := render(t, tab)
	row := between(md, "\n| `"+ev.Fields[0].Name+"` |", "\n")
	if !strings.Contains(row, `a \| b`) || !strings.Contains(row, "`` x\\|`y` ``") {
		t.Errorf("row %q: pipes must be escaped and the code span fenced past the backticks", row)
	}
	if n := strings.Count(strings.ReplaceAll(row, `\|`, ""), "|"); n != 6 {
		t.Errorf("row %q has %d cell separators, want 6 (five cells)", row, n)
	}
}
