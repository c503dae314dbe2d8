package privacytab

import (
	"encoding/json"
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
	for _, f := range s.Fields {
		v, err := nativeExample(f)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		rec[f.Name] = v
	}
	return rec, nil
}

func nativeExample(f schemas.Field) (any, error) {
	typ, _, err := avroType(f)
	if err != nil {
		return nil, err
	}
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
	case "timestamp-millis":
		n, err := integer(-1<<53, 1<<53) // JSON numbers are exact up to 2^53
		return time.UnixMilli(int64(n)).UTC(), err
	case "long":
		n, err := integer(-1<<53, 1<<53) // JSON numbers are exact up to 2^53
		return int64(n), err
	case "int":
		n, err := integer(math.MinInt32, math.MaxInt32)
		return int32(n), err
	case "string", "enum":
		if s, ok := f.Example.(string); ok {
			return s, nil
		}
	case "boolean":
		if b, ok := f.Example.(bool); ok {
			return b, nil
		}
	default:
		return nil, fmt.Errorf("the privacy tab cannot make an example of type %s", typ)
	}
	return nil, fmt.Errorf("example %v (%T) is not a valid %s", f.Example, f.Example, typ)
}

// avroType names the type of a field (a logical type wins over its base type) and
// lists the symbols of an enum.
func avroType(f schemas.Field) (typ string, symbols []string, err error) {
	var name string
	if json.Unmarshal(f.Type, &name) == nil {
		return name, []string{}, nil
	}
	var obj struct {
		Type        string   `json:"type"`
		LogicalType string   `json:"logicalType"`
		Symbols     []string `json:"symbols"`
	}
	if err := json.Unmarshal(f.Type, &obj); err != nil || obj.Type == "" {
		return "", nil, fmt.Errorf("field %q: type %s is not a named or record-style type the privacy tab knows", f.Name, f.Type)
	}
	if obj.LogicalType != "" {
		return obj.LogicalType, []string{}, nil
	}
	if obj.Symbols == nil {
		obj.Symbols = []string{}
	}
	return obj.Type, obj.Symbols, nil
}
