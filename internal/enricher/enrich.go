package enricher

import (
	"errors"
	"fmt"
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
	return stream.DeadLetter(p.Topics.DeadLetter, "enricher", reason, err, m, p.Now()), DeadLetter, reason
}

// dropped is the reason an event is not kept; not an error of the event.
type dropped string

func (d dropped) Error() string { return "dropped: " + string(d) }

type reasonError struct {
	reason string
	err    error
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
	raw, err := p.Schemas.Writer(m.Value)
	if err != nil {
		return kafka.Message{}, err
	}
	kp, ok := p.Policy.For(raw)
	if !ok {
		return kafka.Message{}, reasonError{ReasonNotRaw, fmt.Errorf("schema %s is not a raw schema", raw.Name)}
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	if sc.in, err = raw.DecodeFlat(m.Value[10:], sc.in); err != nil {
		return kafka.Message{}, err
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
		return kafka.Message{}, reasonError{ReasonInvalid, fmt.Errorf("%s: %w", raw.Name, err)}
	}
	if reason := kp.DropReasonFlat(sc.in); reason != "" {
		return kafka.Message{}, dropped(reason)
	}
	if sc.out, err = kp.ApplyFlat(sc.in, sc.out); err != nil {
		return kafka.Message{}, reasonError{ReasonPolicyFailed, fmt.Errorf("%s: %w", raw.Name, err)}
	}
	id := kp.Clean.EventID(sc.out)
	buf, err := kp.Clean.AppendFlat(make([]byte, 0, len(m.Value)+len(id)), sc.out)
	if err != nil {
		return kafka.Message{}, reasonError{ReasonPolicyFailed, err}
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
