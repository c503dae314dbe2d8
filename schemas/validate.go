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
		if v == "" || len(v) > MaxID {
			return fmt.Errorf("%w: %s must be 1-%d bytes, got %d", ErrInvalid, k, MaxID, len(v))
		}
	}
	for k, v := range rec {
		switch v := v.(type) {
		case string:
			if len(v) > MaxString {
				return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrInvalid, k, len(v), MaxString)
			}
			if !utf8.ValidString(v) {
				return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, k)
			}
		case int64:
			if v < 0 {
				return fmt.Errorf("%w: %s is negative (%d)", ErrInvalid, k, v)
			}
		case int32:
			if v < 0 {
				return fmt.Errorf("%w: %s is negative (%d)", ErrInvalid, k, v)
			}
		case time.Time:
			if v.After(now.Add(MaxFutureSkew)) {
				return fmt.Errorf("%w: %s %s is more than %s in the future", ErrInvalid, k, v.UTC().Format(time.RFC3339), MaxFutureSkew)
			}
			if v.Before(time.Unix(0, 0)) {
				return fmt.Errorf("%w: %s %s is before 1970", ErrInvalid, k, v.UTC().Format(time.RFC3339))
			}
		}
	}
	return nil
}
