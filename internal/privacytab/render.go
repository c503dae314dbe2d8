package privacytab

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"join":  func(s []string) string { return strings.Join(s, ", ") },
	"lower": strings.ToLower,
	"indented": func(r Record) (string, error) {
		return r.Indented()
	},
}).Parse(pageHTML))

// HTML writes the tab as one self-contained page: inline CSS, no scripts, no
// external resources. jsonHref, when not empty, is linked as the JSON version.
// Every value is escaped by html/template. On a write error w holds part of the page.
func HTML(w io.Writer, t *Tab, jsonHref string) error {
	return page.Execute(w, struct {
		Tab      *Tab
		JSONHref string
	}{t, jsonHref})
}

// JSON writes the tab as indented JSON; see Tab for the field names.
func JSON(w io.Writer, t *Tab) error {
	b, err := marshal(t, "  ")
	if err != nil {
		return fmt.Errorf("privacytab: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Markdown writes the tab as GitHub-flavoured Markdown, for the docs.
func Markdown(w io.Writer, t *Tab) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# %s\n\n", t.Title)
	p("This page lists every event our software sends, every field in it, what happens to each field, and whether you can turn the event off. The examples are real: each one was run through the same privacy rules the service applies.\n\n")
	p("## Our promise\n\n")
	for _, s := range t.Promise {
		p("- %s\n", s)
	}
	p("\n## Never kept\n\n")
	p("These fields are removed by the enricher, the first service that reads your events, before anything is stored. Whatever they contain, it is not kept:\n\n")
	for _, r := range t.NeverKept {
		p("- %s: %s (%s)\n", code(r.Field), text(r.Doc), strings.Join(r.Kinds, ", "))
	}
	if len(t.Located) > 0 {
		p("\nThese are turned into a country and a coarse region, then removed:\n\n")
		for _, r := range t.Located {
			p("- %s: %s (%s)\n", code(r.Field), text(r.Doc), strings.Join(r.Kinds, ", "))
		}
	}
	if len(t.Linking.Scopes) > 0 {
		p("\n## What can be linked, and for how long\n\n")
		for _, st := range t.Linking.Statements {
			p("%s\n\n", text(st))
		}
		p("| scope | events | pseudonymized fields |\n| --- | --- | --- |\n")
		for _, sc := range t.Linking.Scopes {
			var fields []string
			for _, f := range sc.Fields {
				fields = append(fields, code(f))
			}
			p("| %s | %s | %s |\n", cell(sc.Name), cell(strings.Join(sc.Kinds, ", ")), strings.Join(fields, ", "))
		}
	}
	if a := t.Audit; a != nil {
		p("\n## How well what we keep hides the film you play\n\n")
		for _, st := range a.Statements {
			p("%s\n\n", text(st))
		}
		p("| files per film | worst library (seed) | films unique there | median films per combination there | films unique, min / median / max over the libraries | median films per combination, min / median / max |\n")
		p("| --- | --- | --- | --- | --- | --- |\n")
		for _, r := range a.Rows {
			target := ""
			if r.Targeted {
				target = " (the targets apply)"
			}
			p("| %d%s | %d | %d (%s) | %d | %s | %s |\n", r.FilesPerTitle, target, r.WorstSeed, r.UniqueTitles, r.UniqueShare, r.MedianK, r.UniqueSpread, r.MedianKSpread)
		}
		p("\nAnyone can repeat the measurement: %s\n", code(a.Command))
	}
	p("\n## Events\n\n| event | can you turn it off? |\n| --- | --- |\n")
	for _, e := range t.Events {
		optOut := "no, see below"
		if e.OptOut {
			optOut = "yes"
		}
		p("| [%s](#%s) | %s |\n", cell(e.Title), anchor(e.Title), optOut)
	}
	for _, e := range t.Events {
		p("\n## %s\n\n", e.Title)
		p("Event %s, schema %s. %s\n\n", code(e.Kind), code(e.RawSchema), text(e.Doc))
		p("**%s**\n\n", text(e.Consent))
		p("| field | what it is | what we do with it | example sent by the device | what we keep |\n| --- | --- | --- | --- | --- |\n")
		for _, f := range e.Fields {
			doc := f.Doc
			if len(f.Values) > 0 {
				doc += " One of: " + strings.Join(f.Values, ", ") + "."
			}
			kept := "**nothing**"
			if f.Leaves {
				var parts []string
				for _, v := range f.Kept {
					parts = append(parts, code(v.Field)+" = "+mdValue(v))
				}
				kept = strings.Join(parts, "<br>")
				if len(f.KeptWith) > 0 {
					var with []string
					for _, w := range f.KeptWith {
						with = append(with, code(w))
					}
					kept += "<br>(computed together with " + strings.Join(with, ", ") + ")"
				}
			}
			p("| %s | %s | %s | %s | %s |\n", code(f.Name), cell(doc), cell(f.Treatment), mdValue(f.Sent), kept)
		}
		sent, err := e.Example.Sent.Indented()
		if err != nil {
			return fmt.Errorf("privacytab: %s: %w", e.Kind, err)
		}
		p("\nExample sent by the device:\n\n```json\n%s\n```\n\n", sent)
		if e.Example.DroppedBecause != "" {
			p("What the enricher keeps: nothing, the whole event is discarded (%s).\n", text(e.Example.DroppedBecause))
			continue
		}
		kept, err := e.Example.Kept.Indented()
		if err != nil {
			return fmt.Errorf("privacytab: %s: %w", e.Kind, err)
		}
		p("What the enricher keeps:\n\n```json\n%s\n```\n", kept)
	}
	p("\n## About the examples\n\n")
	for _, n := range t.Notes {
		p("- %s\n", text(n))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdValue is a value in a table cell: a code span, or "(empty)" in italics.
func mdValue(v Value) string {
	if v.Empty() {
		return "*(empty)*"
	}
	return code(v.Text())
}

// code is a Markdown code span that survives a table cell: the fence is longer than
// any run of backticks inside, and pipes are escaped (GFM reads \| in cells first).
func code(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\n", " "), "|", `\|`)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// text escapes what Markdown would read as markup in running text.
func text(s string) string {
	r := strings.NewReplacer("\\", `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", "&lt;", ">", "&gt;", "|", `\|`, "\n", " ")
	return r.Replace(s)
}

// cell is text for a table cell.
func cell(s string) string { return text(s) }

// anchor is the id GitHub gives a heading: lower case, spaces to hyphens, most
// punctuation removed.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}
