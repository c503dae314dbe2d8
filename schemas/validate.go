package schemas

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("invalid event")

// Limits on raw values; past them a record is refused, not truncated.
const (
	MaxString     = 4096               // bytes in any string field
	MaxID         = 128                // bytes in event_id and installation_id
	MaxFutureSkew = 24 * time.Hour     // how far in the future an event time may be
	DefaultMaxAge = 7 * 24 * time.Hour // how old an event may be when it arrives, unless configured
)

// Window is the range of event times an event may carry. Events outside it are
// refused: a device's clock far off, or a client replaying old events, must not
// create partitions of its choosing downstream.
type Window struct {
	Oldest, Newest time.Time
}

// WindowAt is the window of an event that arrives at now: at most maxAge old
// (DefaultMaxAge when maxAge is 0) and at most MaxFutureSkew ahead.
func WindowAt(now time.Time, maxAge time.Duration) Window {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return Window{Oldest: now.Add(-maxAge), Newest: now.Add(MaxFutureSkew)}
}

// CheckInstallationID checks the one syntax of installation ids, shared by the
// events (POST /v1/events), the consent API (/v1/consent/{id}) and the enricher:
// 1 to MaxID bytes of ASCII letters, digits and . _ : -, starting with a letter or
// a digit. Installation ids are pseudonymized before they leave the enricher; the
// syntax keeps paths, e-mail addresses and spaces out of the raw topic's keys and
// the consent topic.
func CheckInstallationID(id string) error {
	if err := checkID("installation_id", len(id)); err != nil {
		return err
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == ':' || c == '-'):
		default:
			return fmt.Errorf("%w: installation_id may hold only letters, digits and . _ : - (starting with a letter or digit); byte %d is %q", ErrInvalid, i, c)
		}
	}
	return nil
}

// Validate checks what an Avro schema cannot express: the installation id has its
// syntax, a field whose domain refuses (event_id: a UUID) holds a value of it,
// strings are bounded and valid UTF-8, numbers are not negative, and the event
// time lies in w. The collector runs it before accepting an event; the enricher
// runs ValidateFlat, the same checks, before cleaning one.
func Validate(s *Schema, rec map[string]any, w Window) error {
	flat, err := s.ToFlat(rec)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return ValidateFlat(s, flat, w)
}

// The checks of ValidateFlat, one per kind of value.

func checkID(name string, n int) error {
	if n == 0 || n > MaxID {
		return fmt.Errorf("%w: %s must be 1-%d bytes, got %d", ErrInvalid, name, MaxID, n)
	}
	return nil
}

func checkString(name, v string) error {
	if len(v) > MaxString {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrInvalid, name, len(v), MaxString)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, name)
	}
	return nil
}

func checkNumber(name string, n int64) error {
	if n < 0 {
		return fmt.Errorf("%w: %s is negative (%d)", ErrInvalid, name, n)
	}
	return nil
}

func checkTime(name string, t time.Time, w Window) error {
	if t.After(w.Newest) {
		return fmt.Errorf("%w: %s %s is more than %s in the future", ErrInvalid, name, t.UTC().Format(time.RFC3339), MaxFutureSkew)
	}
	if t.Before(w.Oldest) {
		return fmt.Errorf("%w: %s %s is older than the %s the pipeline accepts", ErrInvalid, name, t.UTC().Format(time.RFC3339), w.Newest.Sub(w.Oldest)-MaxFutureSkew)
	}
	return nil
}

// checkRefusing checks a field whose domain refuses values outside it.
func checkRefusing(name string, d *Domain, v string) error {
	if _, ok := d.Canon(v); ok {
		return nil
	}
	if d.Kind == KindUUID {
		return fmt.Errorf("%w: %s must be a UUID in its text form (8-4-4-4-12 hexadecimal digits), got %d bytes that are not", ErrInvalid, name, len(v))
	}
	return fmt.Errorf("%w: %s is outside its domain %s", ErrInvalid, name, d.Name)
}
