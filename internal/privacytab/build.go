package privacytab

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/veiltelemetry/veil/internal/audit"
	"github.com/veiltelemetry/veil/internal/catalog"
	"github.com/veiltelemetry/veil/internal/geo"
	"github.com/veiltelemetry/veil/internal/privacy"
	"github.com/veiltelemetry/veil/internal/pseudonym"
	"github.com/veiltelemetry/veil/schemas"
)

// Options say how the examples are computed. The zero value is valid.
type Options struct {
	// DemoKey is the 32-byte key the example pseudonyms are computed with. Default
	// (nil): a random key, made for this Build and deleted with its temporary
	// directory before Build returns.
	DemoKey []byte
	// Now picks the key epoch of the example pseudonyms. Default time.Now, read once.
	Now func() time.Time
	// IPs locates the example IP addresses. Default nil: no IP database, so an IP
	// address gives an empty country and region; a zip code still gives a US state.
	IPs geo.IPDatabase
	// KeyPeriod and KeyRetention are the enricher's --key-period and
	// --key-retention, which the tab states. Default: pseudonym.DefaultPeriod and
	// pseudonym.DefaultRetention, the enricher's defaults.
	KeyPeriod    time.Duration
	KeyRetention int
}

// Build computes the tab from reg by compiling the real privacy policy and running
// it on a sample event of every kind. It fails when the policy does not compile,
// when an example does not encode under its own schema, when the policy's output
// does not match what the tab says each field becomes, or when reg has the kind
// the re-identification audit measures but the audit's recorded result was
// measured under another policy (audit.Digest): the tab states no figure it
// cannot stand behind. It writes a key file in a temporary directory, removed
// before it returns.
func Build(reg *schemas.Registry, opts Options) (*Tab, error) {
	dir, err := os.MkdirTemp("", "veil-privacytab-*")
	if err != nil {
		return nil, fmt.Errorf("privacytab: key directory: %w", err)
	}
	defer os.RemoveAll(dir)
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	at := now()
	period, retention := opts.KeyPeriod, opts.KeyRetention
	if period == 0 {
		period = pseudonym.DefaultPeriod
	}
	if retention == 0 {
		retention = pseudonym.DefaultRetention
	}
	if period < time.Hour || retention < 1 {
		return nil, fmt.Errorf("privacytab: key period %s and retention %d: want at least 1h and 1", period, retention)
	}
	keys, err := pseudonym.Open(pseudonym.Config{Dir: dir, Period: period, Now: func() time.Time { return at }})
	if err != nil {
		return nil, fmt.Errorf("privacytab: %w", err)
	}
	if opts.DemoKey != nil {
		if len(opts.DemoKey) != 32 {
			return nil, fmt.Errorf("privacytab: demonstration key must be 32 bytes, got %d", len(opts.DemoKey))
		}
		// The key store's file format: the hex key of epoch N in epoch-N.key.
		file := filepath.Join(dir, fmt.Sprintf("epoch-%d.key", keys.Epoch(at)))
		if err := os.WriteFile(file, []byte(hex.EncodeToString(opts.DemoKey)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("privacytab: write demonstration key: %w", err)
		}
	}
	// The examples' catalog ids are checked against the demo catalog, which
	// holds them: the tab shows what is kept for content the service hosts.
	pol, err := privacy.New(reg, privacy.Deps{Pseudonyms: keys, Geo: geo.Locator{IPs: opts.IPs}, Catalog: catalog.Demo()})
	if err != nil {
		return nil, err
	}

	tab := &Tab{Title: "What we collect, and what we do with it"}
	var kinds []*privacy.KindPolicy
	for _, kind := range pageOrder(reg.Kinds()) {
		raw := reg.Latest(schemas.Raw, kind)
		kp, ok := pol.For(raw)
		if !ok {
			return nil, fmt.Errorf("privacytab: %s: the policy has no entry for it", raw.File)
		}
		kinds = append(kinds, kp)
	}
	tab.Linking = linking(kinds, period, retention)
	for _, kp := range kinds {
		ev, err := buildEvent(reg, kp, tab.Linking)
		if err != nil {
			return nil, fmt.Errorf("privacytab: %s: %w", kp.Raw.File, err)
		}
		tab.Events = append(tab.Events, ev)
	}
	tab.NeverKept, tab.Located = removed(tab.Events)
	if reg.Latest(schemas.Raw, audit.Kind) != nil {
		res, err := audit.Recorded()
		if err != nil {
			return nil, fmt.Errorf("privacytab: %w", err)
		}
		digest, err := audit.Digest(reg)
		if err != nil {
			return nil, fmt.Errorf("privacytab: %w", err)
		}
		if res.Policy != digest {
			return nil, fmt.Errorf("privacytab: the recorded re-identification audit (internal/audit/result.json) was measured under policy %s, these schemas compile to %s: "+
				"measure it again with VEIL_CATALOG=\"$(scripts/catalog)\" go test ./internal/audit -update", res.Policy, digest)
		}
		tab.Audit = reidentification(res)
	}
	tab.Promise = promises(tab, kinds)
	if opts.DemoKey != nil {
		tab.Notes = append(tab.Notes, "Pseudonyms in the examples are computed with a fixed demonstration key, not with the service's keys, so they match nobody's real pseudonym.")
	} else {
		tab.Notes = append(tab.Notes, "Pseudonyms in the examples are computed with a demonstration key made for this page and deleted right after, not with the service's keys, so they match nobody's real pseudonym.")
	}
	if opts.IPs == nil {
		tab.Notes = append(tab.Notes, "The examples were computed without an IP address database, so the example IP address gives an empty country and region. With one, the country and a coarse region (such as a state) are kept, never the address.")
	}
	tab.Notes = append(tab.Notes, "Every example is produced by running the privacy policy itself on the sample event shown; nothing in the columns “example sent by the device” and “what we keep” is written by hand.")
	if opts.KeyPeriod == 0 && opts.KeyRetention == 0 && len(tab.Linking.Scopes) > 0 {
		tab.Notes = append(tab.Notes, fmt.Sprintf("The key epoch (%s) and retention (%d epochs) stated here are the enricher's defaults, --key-period and --key-retention.",
			tab.Linking.Epoch, tab.Linking.RetentionEpochs))
	}
	return tab, nil
}

// buildEvent runs the policy on the kind's sample event the way the pipeline would:
// encoded as a device sends it, decoded as the enricher decodes it, then applied.
func buildEvent(reg *schemas.Registry, kp *privacy.KindPolicy, link Linking) (Event, error) {
	raw, clean := kp.Raw, kp.Clean
	in, err := Sample(raw)
	if err != nil {
		return Event{}, err
	}
	msg, err := raw.Encode(nil, in)
	if err != nil {
		return Event{}, fmt.Errorf("the example values do not make a valid event: %w", err)
	}
	s, rec, err := reg.Decode(msg)
	if err != nil {
		return Event{}, fmt.Errorf("decode the example: %w", err)
	}
	if s != raw {
		return Event{}, fmt.Errorf("the example decoded as %s", s.File)
	}
	if raw.Title == "" || raw.Doc == "" {
		return Event{}, fmt.Errorf("the schema needs a \"title\" and a \"doc\", the kind's name and description on the tab")
	}
	ev := Event{
		Kind: raw.Kind, Title: raw.Title, Doc: raw.Doc,
		RawSchema: raw.File, CleanSchema: clean.File, Category: kp.Category,
	}
	if ev.Consent, ev.OptOut, err = consent(raw, kp.Category); err != nil {
		return Event{}, err
	}
	for _, f := range raw.Fields {
		ev.Example.Sent = append(ev.Example.Sent, Value{f.Name, rec[f.Name]})
	}
	var out map[string]any
	if ev.Example.DroppedBecause = kp.DropReason(rec); ev.Example.DroppedBecause == "" {
		if out, err = kp.Apply(rec); err != nil {
			return Event{}, fmt.Errorf("apply the policy to the example: %w", err)
		}
		if len(out) != len(clean.Fields) {
			return Event{}, fmt.Errorf("the policy wrote %d fields, %s has %d", len(out), clean.File, len(clean.Fields))
		}
		for _, f := range clean.Fields {
			v, ok := out[f.Name]
			if !ok {
				return Event{}, fmt.Errorf("the policy did not write clean field %q", f.Name)
			}
			ev.Example.Kept = append(ev.Example.Kept, Value{f.Name, v})
		}
	}
	cleanFields := map[string]bool{}
	for _, f := range clean.Fields {
		cleanFields[f.Name] = true
	}
	accounted := map[string]bool{}
	outsOf := make([][]string, len(raw.Fields))
	producers := map[string][]string{} // clean field -> raw fields it is made from
	for i, f := range raw.Fields {
		t, err := privacy.ParseTreatment(f.Privacy)
		if err != nil {
			return Event{}, fmt.Errorf("field %q: %w", f.Name, err)
		}
		if outsOf[i], err = privacy.Outputs(t, f.Name); err != nil {
			return Event{}, fmt.Errorf("field %q: %w", f.Name, err)
		}
		for _, o := range outsOf[i] {
			if !slices.Contains(producers[o], f.Name) {
				producers[o] = append(producers[o], f.Name)
			}
		}
	}
	for i, f := range raw.Fields {
		what, err := rule(kp, i, link)
		if err != nil {
			return Event{}, err
		}
		values := []string{}
		if raw.Type(i) == schemas.TEnum {
			values = slices.Clone(raw.Symbols(i))
		}
		outs := outsOf[i]
		fld := Field{
			Name: f.Name, Doc: f.Doc, Type: raw.Type(i).String(), Values: values, Privacy: f.Privacy,
			Treatment: what,
			Leaves:    len(outs) > 0, KeptAs: outs, KeptWith: []string{},
			Sent: Value{f.Name, rec[f.Name]}, Kept: Record{},
		}
		for _, o := range outs {
			if !cleanFields[o] {
				return Event{}, fmt.Errorf("field %q: the tab says it becomes %q, which %s lacks", f.Name, o, clean.File)
			}
			accounted[o] = true
			if out != nil {
				fld.Kept = append(fld.Kept, Value{o, out[o]})
			}
			for _, p := range producers[o] {
				if p != f.Name && !slices.Contains(fld.KeptWith, p) {
					fld.KeptWith = append(fld.KeptWith, p)
				}
			}
		}
		ev.Fields = append(ev.Fields, fld)
	}
	for _, f := range clean.Fields {
		if !accounted[f.Name] {
			return Event{}, fmt.Errorf("clean field %q comes from no raw field the tab knows of", f.Name)
		}
	}
	return ev, nil
}

// removed collects the fields that never leave the enricher: dropped ones and those
// turned into a coarse location.
func removed(events []Event) (dropped, located []Removed) {
	add := func(list []Removed, kind string, f Field) []Removed {
		for i := range list {
			if list[i].Field == f.Name {
				list[i].Kinds = append(list[i].Kinds, kind)
				return list
			}
		}
		return append(list, Removed{Field: f.Name, Doc: f.Doc, Kinds: []string{kind}})
	}
	for _, ev := range events {
		for _, f := range ev.Fields {
			switch {
			case f.Privacy == "drop":
				dropped = add(dropped, ev.Kind, f)
			case strings.HasPrefix(f.Privacy, "geo:"):
				located = add(located, ev.Kind, f)
			}
		}
	}
	return dropped, located
}

// order is the order of the sections: what most people care about first. Kinds not
// listed follow in alphabetical order.
var order = []string{"playback", "hosted", "crash", "marketing", "integration", "serverinfo"}

func pageOrder(kinds []string) []string {
	out := slices.Clone(kinds)
	rank := func(k string) int {
		if i := slices.Index(order, k); i >= 0 {
			return i
		}
		return len(order)
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank(out[i]), rank(out[j])
		if ri != rj {
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}

// consent says whether and how an event of raw can be turned off, in the words
// its schema gives: the setting of its category ("consent_setting"), or why it
// cannot be turned off on its own ("consent_reason"). A kind without them is an
// error: the tab says nothing its schema does not.
func consent(raw *schemas.Schema, category string) (text string, optOut bool, err error) {
	if slices.Contains(privacy.Categories, category) {
		if raw.ConsentSetting == "" {
			return "", false, fmt.Errorf("consent category %q: the schema names no \"consent_setting\" that turns it off", category)
		}
		return fmt.Sprintf("You can turn this off with the “%s” setting of your server or app.", raw.ConsentSetting), true, nil
	}
	if raw.ConsentReason == "" {
		return "", false, fmt.Errorf("consent %q: the schema needs a \"consent_reason\" saying why this event cannot be turned off", category)
	}
	text = "This event cannot be turned off individually: " + raw.ConsentReason + "."
	for _, f := range raw.Fields {
		if f.Require {
			text += fmt.Sprintf(" The enricher discards every such event unless its field %s is true.", f.Name)
		}
	}
	return text, false, nil
}

// sentence capitalizes the first letter and ends with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	if c := s[0]; c >= 'a' && c <= 'z' {
		s = string(c-'a'+'A') + s[1:]
	}
	if s[len(s)-1] != '.' {
		s += "."
	}
	return s
}
