package privacytab

import (
	"fmt"
	"math"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

// Sample is the raw event of s made of its fields' "example" values, in goavro's
// native form: timestamp-millis as time.Time, int as int32, long as int64, enum
// symbols as strings, booleans as bool. A field without a usable example is an error
// naming it.
func Sample(s *schemas.Schema) (map[string]any, error) {
	rec := make(map[string]any, len(s.Fields))
	for i, f := range s.Fields {
		v, err := nativeExample(f, s.Type(i))
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		rec[f.Name] = v
	}
	return rec, nil
}

func nativeExample(f schemas.Field, typ schemas.FieldType) (any, error) {
	if f.Example == nil {
		return nil, fmt.Errorf("no example")
	}
	integer := func(lo, hi float64) (float64, error) {
		n, ok := f.Example.(float64)
		if !ok || n != math.Trunc(n) || n < lo || n > hi {
			return 0, fmt.Errorf("example %v (%T) is not a valid %s", f.Example, f.Example, typ)
		}
		return n, nil
	}
	switch typ {
	case schemas.TTimestamp:
		n, err := integer(-1<<53, 1<<53) // JSON numbers are exact up to 2^53
		return time.UnixMilli(int64(n)).UTC(), err
	case schemas.TLong:
		n, err := integer(-1<<53, 1<<53) // JSON numbers are exact up to 2^53
		return int64(n), err
	case schemas.TInt:
		n, err := integer(math.MinInt32, math.MaxInt32)
		return int32(n), err
	case schemas.TString, schemas.TEnum:
		if s, ok := f.Example.(string); ok {
			return s, nil
		}
	case schemas.TBoolean:
		if b, ok := f.Example.(bool); ok {
			return b, nil
		}
	default:
		return nil, fmt.Errorf("the privacy tab cannot make an example of type %s", typ)
	}
	return nil, fmt.Errorf("example %v (%T) is not a valid %s", f.Example, f.Example, typ)
}
