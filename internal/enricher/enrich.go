package enricher

import (
	"errors"
	"fmt"
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

func (p *Processor) clean(m kafka.Message) (kafka.Message, error) {
	raw, rec, err := p.Schemas.Decode(m.Value)
	if err != nil {
		return kafka.Message{}, err
	}
	kp, ok := p.Policy.For(raw)
	if !ok {
		return kafka.Message{}, reasonError{ReasonNotRaw, fmt.Errorf("schema %s is not a raw schema", raw.Name)}
	}
	if err := schemas.Validate(rec, p.Now()); err != nil {
		return kafka.Message{}, reasonError{ReasonInvalid, fmt.Errorf("%s: %w", raw.Name, err)}
	}
	if reason := kp.DropReason(rec); reason != "" {
		return kafka.Message{}, dropped(reason)
	}
	if p.Consent != nil && kp.Category != "none" {
		if inst, _ := rec["installation_id"].(string); p.Consent.OptedOut(inst, kp.Category) {
			return kafka.Message{}, dropped(ReasonOptedOut + kp.Category)
		}
	}
	clean, err := kp.Apply(rec)
	if err != nil {
		return kafka.Message{}, reasonError{ReasonPolicyFailed, fmt.Errorf("%s: %w", raw.Name, err)}
	}
	value, err := kp.Clean.Encode(make([]byte, 0, 256), clean)
	if err != nil {
		return kafka.Message{}, reasonError{ReasonPolicyFailed, err}
	}
	id, _ := rec["event_id"].(string)
	return kafka.Message{
		Topic: p.Topics.Clean,
		Key:   []byte(id),
		Value: value,
		// The raw record's append time travels on, so the sink can measure how
		// long an event took to become queryable.
		Time: m.Time,
		Headers: []kafka.Header{
			{Key: stream.HeaderContentType, Value: []byte(stream.AvroContentType)},
			{Key: stream.HeaderFingerprint, Value: []byte(kp.Clean.FingerprintHex())},
			{Key: stream.HeaderProducedBy, Value: []byte("enricher")},
		},
	}, nil
}
