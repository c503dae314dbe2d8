// Package jsonevent writes raw events in the JSON form the collector accepts on
// POST /v1/events (internal/collector/API.md): one object per event with its
// "kind" and its fields, timestamps as epoch milliseconds, in a body
// {"events": [...]}. Clients of the collector use it: the load generator, the
// tests and the end-to-end suite. The collector decodes the form itself, against
// the raw schemas.
package jsonevent

import (
	"bytes"
	"time"
)

// ContentType is the content type of a JSON batch.
const ContentType = "application/json"

// Event returns the JSON form of a native raw record of kind (as
// internal/simulate makes them): times become epoch milliseconds and "kind" is
// added. Encode the result with encoding/json.
func Event(kind string, rec map[string]any) map[string]any {
	out := make(map[string]any, len(rec)+1)
	for k, v := range rec {
		if t, ok := v.(time.Time); ok {
			v = t.UnixMilli()
		}
		out[k] = v
	}
	out["kind"] = kind
	return out
}

// IDOffsets returns where the 36-character values of "event_id" start in a
// JSON batch as encoding/json writes it (no space around the colon), so that a
// load generator can give a batch fresh UUIDs in place without encoding it
// again.
func IDOffsets(body []byte) []int {
	var offs []int
	key := []byte(`"event_id":"`)
	for off := 0; ; {
		i := bytes.Index(body[off:], key)
		if i < 0 {
			return offs
		}
		at := off + i + len(key)
		offs = append(offs, at)
		off = at + 36
	}
}
