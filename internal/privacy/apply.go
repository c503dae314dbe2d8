package privacy

import (
	"github.com/veiltelemetry/veil/schemas"
)

// DropReason returns why the event must not be kept at all ("" to keep it):
// a required boolean field, such as an integration's user_enabled, is not true.
func (k *KindPolicy) DropReason(in map[string]any) string {
	for _, f := range k.required {
		if v, _ := in[f].(bool); !v {
			return f + "-not-true"
		}
	}
	return ""
}

// DropReasonFlat is DropReason for a flat record of Raw.
func (k *KindPolicy) DropReasonFlat(in []schemas.Value) string {
	for j, i := range k.requiredAt {
		if in[i].N != 1 {
			return k.required[j] + "-not-true"
		}
	}
	return ""
}

// Redact blanks, in rec, a flat record of Raw, every field whose treatment is
// drop: a string becomes "", a number 0, a boolean false, an enum its first
// symbol. The record stays a record of Raw that encodes, so that a dead letter
// can hold it and be replayed, without the values the policy would never let out
// of the enricher. A required flag (an integration's user_enabled) is left as it
// is: it decides whether a replayed event is kept, and describes nobody. Redact
// returns the names of the blanked fields in field order, the same slice for
// every record of the kind, which the caller must not modify.
func (k *KindPolicy) Redact(rec []schemas.Value) []string {
	for _, i := range k.dropAt {
		rec[i] = schemas.Value{}
	}
	return k.dropped
}

// Apply turns one raw record into a clean one, both in goavro's native form (the
// form of the golden files, the privacy tab and the audit). It never modifies in.
// An error means the record cannot be made clean (for example the key store
// failed); the caller must not write the record anywhere but the dead-letter
// topic. The enricher uses ApplyFlat, the same steps without the conversions.
func (k *KindPolicy) Apply(in map[string]any) (map[string]any, error) {
	flat, err := k.Raw.ToFlat(in)
	if err != nil {
		return nil, err
	}
	out, err := k.ApplyFlat(flat, nil)
	if err != nil {
		return nil, err
	}
	return k.Clean.FromFlat(out), nil
}

// ApplyFlat writes the clean record of in, a flat record of Raw, into out (grown
// to the clean schema's length) and returns it. Strings of out may alias those of
// in, or be constants of the policy.
func (k *KindPolicy) ApplyFlat(in, out []schemas.Value) ([]schemas.Value, error) {
	n := len(k.Clean.Fields)
	if cap(out) < n {
		out = make([]schemas.Value, n)
	}
	out = out[:n]
	for _, s := range k.steps {
		if err := s(in, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}
