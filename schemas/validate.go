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
	MaxString     = 4096           // bytes in any string field
	MaxID         = 128            // bytes in event_id and installation_id
	MaxFutureSkew = 24 * time.Hour // how far in the future an event time may be
)

// Validate checks what an Avro schema cannot express: required identifiers are
// present, strings are bounded and valid UTF-8, numbers are not negative, and the
// event time is not in the future by more than MaxFutureSkew. The collector runs it
// before accepting an event and the enricher again before cleaning one.
func Validate(rec map[string]any, now time.Time) error {
	for _, k := range []string{"event_id", "installation_id"} {
		v, _ := rec[k].(string)
		if err := checkID(k, len(v)); err != nil {
			return err
		}
	}
	for k, v := range rec {
		var err error
		switch v := v.(type) {
		case string:
			err = checkString(k, v)
		case int64:
			err = checkNumber(k, v)
		case int32:
			err = checkNumber(k, int64(v))
		case time.Time:
			err = checkTime(k, v, now)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// The checks of Validate and ValidateFlat, one per kind of value, so that both
// apply the same limits in the same words.

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

func checkTime(name string, t, now time.Time) error {
	if t.After(now.Add(MaxFutureSkew)) {
		return fmt.Errorf("%w: %s %s is more than %s in the future", ErrInvalid, name, t.UTC().Format(time.RFC3339), MaxFutureSkew)
	}
	if t.Before(time.Unix(0, 0)) {
		return fmt.Errorf("%w: %s %s is before 1970", ErrInvalid, name, t.UTC().Format(time.RFC3339))
	}
	return nil
}
