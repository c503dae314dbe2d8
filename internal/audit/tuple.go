package audit

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/veiltelemetry/veil/internal/catalog"
	"github.com/veiltelemetry/veil/internal/privacy"
	"github.com/veiltelemetry/veil/schemas"
)

// Kind is the event kind the audit measures: a playback names the media item.
const Kind = "playback"

// Tuple is what the audit measures of a file: the clean fields that the compiled
// privacy policy writes from the raw fields about the media item (attribute
// "about": "media") that it does not drop. It is derived from the schemas and the
// policy, never listed by hand, so a media field kept later is measured from the
// day it is kept.
type Tuple struct {
	Inputs []string // raw fields, in raw schema order
	Fields []string // clean fields written from them, in clean schema order
	kp     *privacy.KindPolicy
	out    []int // positions of Fields in the clean schema
	in     []int // positions of Inputs in the raw schema
}

// fakeDeps are the policy's contacts with the outside world in the audit: the
// media fields need none of them but the service catalog, which is the demo
// catalog (a local file's id is in no catalog).
type fakePseudonyms struct{}

func (fakePseudonyms) Pseudonym(_, v string) (string, error) { return "p", nil }

type fakeGeo struct{}

func (fakeGeo) Locate(string, string) (string, string) { return "", "" }

// NewTuple compiles the privacy policy of reg and derives the tuple of Kind. It
// fails when the policy does not compile, when reg has no raw schema of Kind, or
// when the encode model (Encode.Fields) has no value for a media field the policy
// keeps: a new kept field fails the audit until the model covers it.
func NewTuple(reg *schemas.Registry) (*Tuple, error) {
	pol, err := privacy.New(reg, privacy.Deps{Pseudonyms: fakePseudonyms{}, Geo: fakeGeo{}, Catalog: catalog.Demo()})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	raw := reg.Latest(schemas.Raw, Kind)
	if raw == nil {
		return nil, fmt.Errorf("audit: no raw schema of kind %q", Kind)
	}
	kp, ok := pol.For(raw)
	if !ok {
		return nil, fmt.Errorf("audit: %s: the policy has no entry for it", raw.File)
	}
	t := &Tuple{kp: kp}
	model := Encode{}.Fields()
	outs := map[string]bool{}
	for i, f := range raw.Fields {
		if f.About != "media" {
			continue
		}
		tr, err := privacy.ParseTreatment(f.Privacy)
		if err != nil {
			return nil, fmt.Errorf("audit: %s: field %q: %w", raw.File, f.Name, err)
		}
		o, err := privacy.Outputs(tr, f.Name)
		if err != nil {
			return nil, fmt.Errorf("audit: %s: field %q: %w", raw.File, f.Name, err)
		}
		if len(o) == 0 {
			continue // dropped
		}
		if _, ok := model[f.Name]; !ok {
			return nil, fmt.Errorf("audit: %s: the policy keeps media field %q (as %s), but the encode model makes no value for it: add it to Encode.Fields and Simulate",
				raw.File, f.Name, strings.Join(o, ", "))
		}
		t.Inputs, t.in = append(t.Inputs, f.Name), append(t.in, i)
		for _, name := range o {
			outs[name] = true
		}
	}
	if len(t.Inputs) == 0 {
		return nil, fmt.Errorf("audit: %s keeps no field about the media", raw.File)
	}
	for i, f := range kp.Clean.Fields {
		if outs[f.Name] {
			t.Fields, t.out = append(t.Fields, f.Name), append(t.out, i)
		}
	}
	return t, nil
}

// Keys returns the tuple value of every file: clean, the values of the tuple's
// clean fields that the policy writes from the file's raw record, joined by ", "
// (an empty string shows as "-"); raw, the values of its raw fields as the device
// sent them. It fails when the policy refuses or drops a record of the model.
func (t *Tuple) Keys(files []Encode) (clean, raw []string, err error) {
	k := t.keyer()
	clean, raw = make([]string, len(files)), make([]string, len(files))
	for i, e := range files {
		if clean[i], err = k.clean(e); err != nil {
			return nil, nil, err
		}
		if raw[i], err = k.raw(e); err != nil {
			return nil, nil, err
		}
	}
	return clean, raw, nil
}

// keyer turns files into tuple values, reusing its buffers. It is not safe for
// concurrent use.
type keyer struct {
	t        *Tuple
	out      []schemas.Value
	b        []byte
	cleanMap map[string]string // interned clean keys
}

func (t *Tuple) keyer() *keyer { return &keyer{t: t, cleanMap: map[string]string{}} }

// flat is the raw record of e.
func (k *keyer) flat(e Encode) ([]schemas.Value, error) {
	in, err := k.t.kp.Raw.ToFlat(e.Fields())
	if err != nil {
		return nil, fmt.Errorf("audit: the encode model made a bad raw record: %w", err)
	}
	return in, nil
}

// clean runs the policy on the raw record of e and returns the values of the
// tuple's clean fields, joined by ", ".
func (k *keyer) clean(e Encode) (string, error) {
	in, err := k.flat(e)
	if err != nil {
		return "", err
	}
	if why := k.t.kp.DropReasonFlat(in); why != "" {
		return "", fmt.Errorf("audit: the policy drops the model's playback event (%s)", why)
	}
	if k.out, err = k.t.kp.ApplyFlat(in, k.out); err != nil {
		return "", fmt.Errorf("audit: apply the policy: %w", err)
	}
	k.b = k.b[:0]
	for j, o := range k.t.out {
		if j > 0 {
			k.b = append(k.b, ", "...)
		}
		k.b = appendValue(k.b, k.t.kp.Clean, o, k.out[o])
	}
	if s, ok := k.cleanMap[string(k.b)]; ok {
		return s, nil
	}
	s := string(k.b)
	k.cleanMap[s] = s
	return s, nil
}

// raw returns the values of the tuple's raw fields as the device sent them.
func (k *keyer) raw(e Encode) (string, error) {
	in, err := k.flat(e)
	if err != nil {
		return "", err
	}
	k.b = k.b[:0]
	for j, i := range k.t.in {
		if j > 0 {
			k.b = append(k.b, ", "...)
		}
		k.b = appendValue(k.b, k.t.kp.Raw, i, in[i])
	}
	return string(k.b), nil
}

// appendValue appends field i's value v of a flat record of s; an empty string
// shows as "-" so that the columns stay apart.
func appendValue(b []byte, s *schemas.Schema, i int, v schemas.Value) []byte {
	switch s.Type(i) {
	case schemas.TString:
		if v.S == "" {
			return append(b, '-')
		}
		return append(b, v.S...)
	case schemas.TEnum:
		return append(b, s.Symbols(i)[v.N]...)
	}
	return strconv.AppendInt(b, v.N, 10)
}
