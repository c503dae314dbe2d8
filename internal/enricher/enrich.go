package enricher

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/veiltelemetry/veil/internal/privacy"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// Outcome of processing one raw record.
type Outcome int

const (
	Clean      Outcome = iota // written to the clean topic
	DeadLetter                // written to the dead-letter topic
	Dropped                   // written nowhere, by policy: an opt-out or a failed requirement
)

// Reasons recorded in the dead-letter header and the metrics.
const (
	ReasonNotAvro      = "not-single-object"
	ReasonFingerprint  = "unknown-fingerprint"
	ReasonMalformed    = "malformed"
	ReasonNotRaw       = "not-a-raw-schema"
	ReasonInvalid      = "invalid"
	ReasonPolicyFailed = "policy-failed"
	ReasonOptedOut     = "opted-out:" // + category
)

// Consent tells whether an installation opted out of a category.
type Consent interface {
	OptedOut(installation, category string) bool
}

// Processor turns one raw Kafka record into the record to write: a clean one, or a
// dead letter. It does no I/O and is safe for concurrent use.
type Processor struct {
	Schemas *schemas.Registry
	Policy  *privacy.Policy
	Topics  stream.Topics
	Consent Consent // nil: nobody opted out
	Now     func() time.Time
	MaxAge  time.Duration // oldest event time accepted, relative to the raw record's arrival; 0: schemas.DefaultMaxAge

	hdrs sync.Map // *schemas.Schema -> []kafka.Header
}

// Process never fails: whatever is wrong with m becomes a dead letter that says so,
// and an event the policy must not keep is Dropped with its reason.
func (p *Processor) Process(m kafka.Message) (kafka.Message, Outcome, string) {
	out, err := p.clean(m)
	if err == nil {
		return out, Clean, ""
	}
	var d dropped
	if errors.As(err, &d) {
		return kafka.Message{}, Dropped, string(d)
	}
	reason := reasonOf(err)
	var re reasonError
	if errors.As(err, &re) && re.redacted != nil {
		m = re.redacted.of(m)
	}
	return stream.DeadLetter(p.Topics.DeadLetter, "enricher", reason, err, m, p.Now()), DeadLetter, reason
}

// dropped is the reason an event is not kept; not an error of the event.
type dropped string

func (d dropped) Error() string { return "dropped: " + string(d) }

type reasonError struct {
	reason   string
	err      error
	redacted *redacted // the record to dead-letter in place of the one read; nil: the one read
}

// redacted is a raw record that decoded but failed later, re-encoded with the
// fields the policy drops blanked: a dead letter holds no more than it must.
type redacted struct {
	value       []byte
	fields      string // the blanked fields, comma-separated
	fingerprint string // of the schema it is encoded with
}

// redact returns e carrying rec, a flat record of kp.Raw, with its dropped fields
// blanked (privacy.KindPolicy.Redact). The blanked record is still a record of the
// raw schema, so that a replay can clean it once what failed is fixed. When kp
// drops no field, or the record does not encode again (a value out of its type's
// range that the decoder let through), e is returned as it is and the record
// read is dead-lettered, like one that does not decode.
func redact(kp *privacy.KindPolicy, rec []schemas.Value, e reasonError) reasonError {
	fields := kp.Redact(rec)
	if len(fields) == 0 {
		return e
	}
	v, err := kp.Raw.AppendFlat(nil, rec)
	if err != nil {
		return e
	}
	e.redacted = &redacted{value: v, fields: strings.Join(fields, ","), fingerprint: kp.Raw.FingerprintHex()}
	return e
}

// of returns m with the redacted value, a HeaderRedacted naming the blanked
// fields first, and the fingerprint header, if any, naming the schema the value
// is now encoded with (a record read with the legacy fingerprint is written with
// the specification's).
func (r *redacted) of(m kafka.Message) kafka.Message {
	h := make([]kafka.Header, 0, len(m.Headers)+1)
	h = append(h, kafka.Header{Key: stream.HeaderRedacted, Value: []byte(r.fields)})
	for _, x := range m.Headers {
		switch x.Key {
		case stream.HeaderRedacted:
			continue
		case stream.HeaderFingerprint:
			x.Value = []byte(r.fingerprint)
		}
		h = append(h, x)
	}
	m.Value, m.Headers = r.value, h
	return m
}

func (e reasonError) Error() string { return e.err.Error() }
func (e reasonError) Unwrap() error { return e.err }

func reasonOf(err error) string {
	var re reasonError
	switch {
	case errors.As(err, &re):
		return re.reason
	case errors.Is(err, schemas.ErrNotSingleObject):
		return ReasonNotAvro
	case errors.Is(err, schemas.ErrUnknownFingerprint):
		return ReasonFingerprint
	default:
		return ReasonMalformed
	}
}

// scratch holds the flat records of one Process call, reused through a pool so
// that processing an event allocates only the message it returns.
type scratch struct{ in, out []schemas.Value }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// clean decodes m with the flat codec, checks it, applies the policy and encodes
// the clean record. The output value and key share one allocation; the headers
// are shared by every record of the same clean schema (kafka-go only reads them).
func (p *Processor) clean(m kafka.Message) (kafka.Message, error) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	raw, in, err := p.Schemas.DecodeFlat(m.Value, sc.in)
	sc.in = in
	if err != nil {
		return kafka.Message{}, err
	}
	kp, ok := p.Policy.For(raw)
	if !ok {
		return kafka.Message{}, reasonError{reason: ReasonNotRaw, err: fmt.Errorf("schema %s is not a raw schema", raw.Name)}
	}
	// Consent first: the events of an installation that opted out are dropped
	// even when they are invalid, so they are never dead-lettered with their
	// identifiers.
	if p.Consent != nil && kp.Category != "none" && p.Consent.OptedOut(raw.InstallationID(sc.in), kp.Category) {
		return kafka.Message{}, dropped(ReasonOptedOut + kp.Category)
	}
	now := p.Now()
	arrived := m.Time
	if arrived.IsZero() || arrived.After(now) {
		arrived = now
	}
	w := schemas.WindowAt(arrived, p.MaxAge)
	w.Newest = now.Add(schemas.MaxFutureSkew)
	if err := schemas.ValidateFlat(raw, sc.in, w); err != nil {
		return kafka.Message{}, redact(kp, sc.in, reasonError{reason: ReasonInvalid, err: fmt.Errorf("%s: %w", raw.Name, err)})
	}
	if reason := kp.DropReasonFlat(sc.in); reason != "" {
		return kafka.Message{}, dropped(reason)
	}
	if sc.out, err = kp.ApplyFlat(sc.in, sc.out); err != nil {
		return kafka.Message{}, redact(kp, sc.in, reasonError{reason: ReasonPolicyFailed, err: fmt.Errorf("%s: %w", raw.Name, err)})
	}
	id := kp.Clean.EventID(sc.out)
	buf, err := kp.Clean.AppendFlat(make([]byte, 0, len(m.Value)+len(id)), sc.out)
	if err != nil {
		return kafka.Message{}, redact(kp, sc.in, reasonError{reason: ReasonPolicyFailed, err: err})
	}
	n := len(buf)
	buf = append(buf, id...)
	return kafka.Message{
		Topic: p.Topics.Clean,
		Key:   buf[n:],
		Value: buf[:n:n],
		// The record's timestamp is the hour the raw record arrived in: enough
		// for the clean topic's retention, and no finer than the event_hour the
		// record holds. Without it kafka-go would stamp the time of writing,
		// which tells when the event arrived to the millisecond.
		Time:    arrived.UTC().Truncate(time.Hour),
		Headers: p.headers(kp.Clean),
	}, nil
}

// headers returns the headers of clean records of schema s, made once.
func (p *Processor) headers(s *schemas.Schema) []kafka.Header {
	if h, ok := p.hdrs.Load(s); ok {
		return h.([]kafka.Header)
	}
	h := stream.RecordHeaders(s, "enricher")
	p.hdrs.Store(s, h[:len(h):len(h)])
	return h
}
