package privacytab

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/veiltelemetry/veil/internal/audit"
	"github.com/veiltelemetry/veil/internal/privacy"
	"github.com/veiltelemetry/veil/schemas"
)

// Everything in this file turns what the code decides into words: the compiled
// policy (treatments, value domains, buckets, pseudonym scopes), the key store's
// settings and the audit's recorded result. Nothing here states a fact about the
// data that one of them does not enforce or measure.

// rule says what the policy does to raw field i of kp: the treatment's own
// description completed with what the policy holds for this field: the value
// domain of a kept string, the scope and lifetime of a pseudonym, the buckets of
// a generalization.
func rule(kp *privacy.KindPolicy, i int, link Linking) (string, error) {
	f := kp.Raw.Fields[i]
	t, err := privacy.ParseTreatment(f.Privacy)
	if err != nil {
		return "", fmt.Errorf("field %q: %w", f.Name, err)
	}
	what := privacy.Describe(t)
	if what == "" {
		return "", fmt.Errorf("field %q: privacy.Describe has no words for %s", f.Name, t)
	}
	var s string
	switch t.String() {
	case "keep":
		s = keepRule(kp.Raw, i)
	case "pseudonymize":
		s, err = pseudonymRule(kp, f.Name, link)
		if err != nil {
			return "", err
		}
	default:
		s = sentence(what)
		if b := privacy.Buckets(t); len(b) > 0 {
			s = strings.TrimSuffix(s, ".") + ". Values: " + strings.Join(b, "; ") + "."
		}
	}
	if f.Require {
		s += " The whole event is discarded unless this is true."
	}
	return s, nil
}

// keepRule describes a kept field by its type and, for a string, its domain.
func keepRule(raw *schemas.Schema, i int) string {
	d := raw.Fields[i].Domain
	switch {
	case raw.Type(i) == schemas.TEnum:
		return "Kept as sent: the schema allows no value but those listed."
	case raw.Type(i) != schemas.TString:
		return "Kept as sent."
	case d == nil: // the policy refuses to compile a kept string without a domain
		return "Kept."
	case d.Kind == schemas.KindCatalog:
		return "Kept only when the service's own catalog lists it. " + d.Describe() + " Any other value becomes “" + schemas.Other + "”."
	case d.Refuse:
		return "Kept only as a value of its domain. " + d.Describe()
	}
	return "Kept only as a value of its domain. " + d.Describe() + " Any other value becomes “" + schemas.Other + "”."
}

func pseudonymRule(kp *privacy.KindPolicy, field string, link Linking) (string, error) {
	name := kp.PseudonymScope()
	i := slices.IndexFunc(link.Scopes, func(s Scope) bool { return s.Name == name })
	if i < 0 {
		return "", fmt.Errorf("field %q: pseudonym scope %q is not on the tab", field, name)
	}
	return fmt.Sprintf("Replaced by a keyed HMAC-SHA256 pseudonym computed for this field in the scope “%s”, %s. "+
		"It is the same for the same %s only within one key epoch of %s, and unrelated in other scopes; "+
		"nobody can recompute it once its key is destroyed, %d epochs after the epoch began.",
		name, kindList(link.Scopes[i].Kinds), strings.ReplaceAll(field, "_", " "), link.Epoch, link.RetentionEpochs), nil
}

// kindList says which kinds use a scope.
func kindList(kinds []string) string {
	if len(kinds) == 1 {
		return "which only " + kinds[0] + " events use"
	}
	return "which " + and(kinds) + " events share"
}

// and joins a list in words: "a", "a and b", "a, b and c".
func and(list []string) string {
	switch len(list) {
	case 0:
		return ""
	case 1:
		return list[0]
	}
	return strings.Join(list[:len(list)-1], ", ") + " and " + list[len(list)-1]
}

// days says a duration in words: whole days as "30 days", else as Go writes it.
func days(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

// linking groups the kinds by pseudonym scope and says what can be linked.
func linking(kinds []*privacy.KindPolicy, period time.Duration, retention int) Linking {
	l := Linking{Epoch: days(period), EpochSeconds: int64(period / time.Second), RetentionEpochs: retention, Scopes: []Scope{}, Statements: []string{}}
	together := map[string][]string{} // kind -> its pseudonymized fields
	for _, kp := range kinds {
		var fields []string
		for _, f := range kp.Raw.Fields {
			if f.Privacy == "pseudonymize" {
				fields = append(fields, f.Name)
			}
		}
		if len(fields) == 0 {
			continue
		}
		together[kp.Raw.Kind] = fields
		name := kp.PseudonymScope()
		i := slices.IndexFunc(l.Scopes, func(s Scope) bool { return s.Name == name })
		if i < 0 {
			l.Scopes = append(l.Scopes, Scope{Name: name, Kinds: []string{}, Fields: []string{}})
			i = len(l.Scopes) - 1
		}
		s := &l.Scopes[i]
		s.Kinds = append(s.Kinds, kp.Raw.Kind)
		for _, f := range fields {
			if !slices.Contains(s.Fields, f) {
				s.Fields = append(s.Fields, f)
			}
		}
	}
	if len(l.Scopes) == 0 {
		return l
	}
	l.Statements = append(l.Statements,
		fmt.Sprintf("Identifiers are replaced by pseudonyms made with a secret key of the current epoch. An epoch lasts %s, counted from 1 January 1970 (UTC). "+
			"Within one epoch an installation or account has the same pseudonym in every event of one scope; in the next epoch it has a new one, "+
			"which only someone holding both keys and the original identifier could connect to the old one.", l.Epoch))
	var scopes []string
	for _, s := range l.Scopes {
		scopes = append(scopes, fmt.Sprintf("“%s” (%s)", s.Name, and(s.Kinds)))
	}
	l.Statements = append(l.Statements,
		"Pseudonyms are computed separately in each scope, so events of different scopes cannot be joined through them. The scopes, with the events in each, are "+and(scopes)+".")
	l.Statements = append(l.Statements,
		fmt.Sprintf("Keys are kept for %d epochs, the current one included; the key rotation, which the enricher runs when it starts and at a fixed interval, destroys older ones. "+
			"Once a key is destroyed, about %s after its epoch began, nobody, the service's operators included, can recompute its pseudonyms from an identifier.",
			retention, days(time.Duration(retention)*period)))
	var sets []string // the field lists of kinds with several pseudonyms, and their kinds
	bySet := map[string][]string{}
	for _, kp := range kinds {
		if f := together[kp.Raw.Kind]; len(f) > 1 {
			set := and(f)
			if bySet[set] == nil {
				sets = append(sets, set)
			}
			bySet[set] = append(bySet[set], kp.Raw.Kind)
		}
	}
	for _, set := range sets {
		l.Statements = append(l.Statements, fmt.Sprintf("In one %s event, the pseudonyms of %s appear side by side.", or(bySet[set]), set))
	}
	return l
}

// promises states the privacy promise, each statement derived from the tab
// (built from the compiled policy), the policies of its kinds, the linking
// settings and the audit's recorded result.
func promises(tab *Tab, kinds []*privacy.KindPolicy) []string {
	var out []string
	var names []string
	for _, e := range tab.Events {
		names = append(names, strings.ToLower(e.Title))
	}
	out = append(out, fmt.Sprintf("We collect %d kinds of events: %s. Each is listed below with every field it carries and what happens to it.", len(names), and(names)))
	var removed []string
	for _, r := range tab.NeverKept {
		removed = append(removed, r.Field)
	}
	if len(removed) > 0 {
		out = append(out, fmt.Sprintf("The enricher, the first service that reads your events, removes %d fields before anything is stored, whatever they contain: %s.",
			len(removed), strings.Join(removed, ", ")))
	}
	var located []string
	for _, r := range tab.Located {
		located = append(located, r.Field)
	}
	if len(located) > 0 {
		out = append(out, "These fields are turned into a country and, only where it is large, a region, then removed: "+strings.Join(located, ", ")+".")
	}
	if s := keptStrings(kinds); s != "" {
		out = append(out, s)
	}
	var hosted []string
	generalized := map[string]bool{}
	for _, kp := range kinds {
		for _, f := range kp.Raw.Fields {
			switch {
			case f.Privacy == "hosted-only" && !slices.Contains(hosted, f.Name):
				hosted = append(hosted, f.Name)
			case strings.HasPrefix(f.Privacy, "generalize:"):
				generalized[f.Privacy] = true
			}
		}
	}
	if len(hosted) > 0 {
		out = append(out, fmt.Sprintf("A catalog id (%s) is kept only when the service's own catalog of hosted content lists it; an id a device makes up, such as one of a file on your own server, is removed.",
			strings.Join(hosted, ", ")))
	}
	var coarse []string
	for _, r := range []struct{ rule, what string }{
		{"generalize:hour", "event times (to the hour)"}, {"generalize:duration", "running times"}, {"generalize:bitrate", "bitrates"},
		{"generalize:size", "file sizes"}, {"generalize:resolution", "picture sizes"}, {"generalize:played", "how much of an item was played"},
	} {
		if generalized[r.rule] {
			coarse = append(coarse, r.what)
			delete(generalized, r.rule)
		}
	}
	var other []string // a rule without words above still shows up
	for r := range generalized {
		other = append(other, r)
	}
	slices.Sort(other)
	if coarse = append(coarse, other...); len(coarse) > 0 {
		out = append(out, "Only coarse buckets are kept of "+and(coarse)+"; each field below lists its buckets.")
	}
	if tab.Audit != nil {
		out = append(out, tab.Audit.Statements[0])
	}
	if len(tab.Linking.Scopes) > 0 {
		var fields []string
		for _, s := range tab.Linking.Scopes {
			for _, f := range s.Fields {
				if !slices.Contains(fields, f) {
					fields = append(fields, f)
				}
			}
		}
		out = append(out, fmt.Sprintf("These identifiers are replaced by pseudonyms: %s. A pseudonym links events only within one scope (%d scopes, one per consent category or kind) and one key epoch of %s; "+
			"once its key is destroyed, %d epochs after the epoch began, nobody can recompute it from an identifier any more.",
			strings.Join(fields, ", "), len(tab.Linking.Scopes), tab.Linking.Epoch, tab.Linking.RetentionEpochs))
	}
	setting := map[string]string{} // kind -> the setting that turns it off
	for _, kp := range kinds {
		setting[kp.Raw.Kind] = kp.Raw.ConsentSetting
	}
	var optOut, always []string
	for _, e := range tab.Events {
		if e.OptOut {
			if n := "“" + setting[e.Kind] + "”"; !slices.Contains(optOut, n) {
				optOut = append(optOut, n)
			}
		} else {
			always = append(always, strings.ToLower(e.Title))
		}
	}
	if len(optOut) > 0 {
		s := fmt.Sprintf("You can turn off %s separately; the enricher then drops those events.", and(optOut))
		if len(always) > 0 {
			s += fmt.Sprintf(" %s cannot be turned off on their own; their sections say why.", capital(and(always)))
		}
		out = append(out, s)
	}
	return out
}

// keptStrings says what a kept text field can hold, from the kinds of the
// domains the policy's kept strings name.
func keptStrings(kinds []*privacy.KindPolicy) string {
	words := map[schemas.DomainKind]string{
		schemas.KindVocabulary: "a value from a fixed list", schemas.KindVersioned: "a name from a fixed list with its version number",
		schemas.KindUUID: "a random UUID", schemas.KindVersion: "a release number", schemas.KindHex: "a hexadecimal hash",
		schemas.KindCatalog: "an id the service's own catalog lists",
	}
	seen := map[schemas.DomainKind]bool{}
	refuse := false
	for _, kp := range kinds {
		for i, f := range kp.Raw.Fields {
			if f.Privacy == "keep" && kp.Raw.Type(i) == schemas.TString && f.Domain != nil {
				seen[f.Domain.Kind] = true
				refuse = refuse || f.Domain.Refuse
			}
		}
	}
	var held []string
	for _, k := range []schemas.DomainKind{schemas.KindVocabulary, schemas.KindVersioned, schemas.KindUUID, schemas.KindVersion, schemas.KindHex, schemas.KindCatalog} {
		if seen[k] {
			held = append(held, words[k])
		}
	}
	if len(held) == 0 {
		return ""
	}
	s := "No text your device sends is kept as it was sent: a kept text field holds " + or(held) + ", and any other value is replaced by “" + schemas.Other + "”"
	if refuse {
		s += " (or, for an event id, the event is refused)"
	}
	return s + "."
}

func or(list []string) string {
	if len(list) < 2 {
		return and(list)
	}
	return strings.Join(list[:len(list)-1], ", ") + " or " + list[len(list)-1]
}

func capital(s string) string {
	if s == "" {
		return s
	}
	if c := s[0]; c >= 'a' && c <= 'z' {
		return string(c-'a'+'A') + s[1:]
	}
	return s
}

func pct(share float64) string { return fmt.Sprintf("%.2f%%", 100*share) }

// target is a share as the targets are written: 1%, 0.5%.
func target(share float64) string { return strconv.FormatFloat(100*share, 'f', -1, 64) + "%" }

// thousands writes n with a comma between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// reidentification says what the audit's recorded result measured: first the
// promise, then how it was measured.
func reidentification(r audit.Result) *Reidentification {
	one, _ := r.Targeted()
	w := one.Worst
	out := &Reidentification{Command: r.Command, Result: r}
	out.Statements = append(out.Statements, fmt.Sprintf("What we keep of a media file you play (%s) was measured against %s real films: "+
		"in the worst of %d simulated libraries with one file per film, %s of the films (%d) had a combination of these values that no other film shared, "+
		"and a file's combination was shared by a median of %d films (at least %d in every library). The targets are at most %s and at least %d.",
		strings.Join(r.Tuple, ", "), thousands(r.Titles), len(r.Seeds), pct(w.UniqueTitleShare), w.UniqueTitles, w.KMedian, one.Clean.KMedian.Min,
		target(r.Targets.MaxUniqueTitleShare), r.Targets.MinMedianK))
	for _, sc := range r.Scenarios {
		if !sc.Targeted {
			out.Statements = append(out.Statements, fmt.Sprintf("With %d files per film, the worst library left %s of the films (%d) unique, with a median of %d films per combination.",
				sc.FilesPerTitle, pct(sc.Worst.UniqueTitleShare), sc.Worst.UniqueTitles, sc.Worst.KMedian))
		}
		u, k := sc.Clean.UniqueTitleShare, sc.Clean.KMedian
		row := AuditRow{FilesPerTitle: sc.FilesPerTitle, Targeted: sc.Targeted, WorstSeed: sc.WorstSeed, UniqueTitles: sc.Worst.UniqueTitles,
			UniqueShare: pct(sc.Worst.UniqueTitleShare), MedianK: sc.Worst.KMedian,
			UniqueSpread:  pct(u.Min) + " / " + pct(u.Median) + " / " + pct(u.Max),
			MedianKSpread: fmt.Sprintf("%d / %d / %d", k.Min, k.Median, k.Max)}
		if sc.Targeted {
			out.Rows = append([]AuditRow{row}, out.Rows...)
		} else {
			out.Rows = append(out.Rows, row)
		}
	}
	out.Statements = append(out.Statements,
		fmt.Sprintf("For comparison, the exact values a device sends made %s of the films unique, and the running time in whole minutes alone %s.",
			pct(one.Raw.UniqueTitleShare.Min), pct(one.Minutes.UniqueTitleShare.Max)),
		fmt.Sprintf("The films are the %s with a running time in %s. Each simulated file is passed through the privacy policy itself. "+
			"The libraries are seeds %d to %d of the audit's model of releases: DVD, Blu-ray, 4K, streaming and TV copies, depending on each film's year and popularity.",
			thousands(r.Titles), r.Catalog, r.Seeds[0], r.Seeds[len(r.Seeds)-1]))
	return out
}
