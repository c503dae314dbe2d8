package collector

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/veiltelemetry/veil/schemas"
)

// decodeJSON decodes {"events": [...]}. A body that is not such an object fails
// the batch; an event that does not fit its schema fails only itself.
func (s *Server) decodeJSON(body []byte) ([]event, *batchError) {
	if !json.Valid(body) {
		return nil, explainJSON(body)
	}
	top := body[skipSpace(body, 0):]
	if top[0] != '{' {
		return nil, failBatch(http.StatusBadRequest, `body must be a JSON object {"events": [...]}, got %s`, describe(top))
	}
	ms, err := members(top, nil)
	if err != nil {
		return nil, failBatch(http.StatusBadRequest, "body is not JSON: %v", err)
	}
	var list []byte
	for _, m := range ms {
		if !m.is("events") {
			return nil, failBatch(http.StatusBadRequest, `body has an unknown field %q; only "events" is allowed`, truncate(m.name(), 64))
		}
		list = m.val
	}
	if len(list) == 0 || list[0] == 'n' {
		return nil, failBatch(http.StatusBadRequest, `no events: send {"events": [...]} with at least one event`)
	}
	if list[0] != '[' {
		return nil, failBatch(http.StatusBadRequest, `"events" must be an array, got %s`, describe(list))
	}
	raws, err := elements(list)
	if err != nil {
		return nil, failBatch(http.StatusBadRequest, "body is not JSON: %v", err)
	}
	if len(raws) == 0 {
		return nil, failBatch(http.StatusBadRequest, `no events: send {"events": [...]} with at least one event`)
	}
	if len(raws) > s.cfg.MaxEvents {
		return nil, failBatch(http.StatusRequestEntityTooLarge, "batch of %d events exceeds --max-events (%d)", len(raws), s.cfg.MaxEvents)
	}
	events := make([]event, len(raws))
	var scratch []member
	for i, raw := range raws {
		scratch = s.decodeJSONEvent(&events[i], raw, scratch[:0])
	}
	return events, nil
}

// explainJSON says what is wrong with a body json.Valid refused, in
// encoding/json's words.
func explainJSON(body []byte) *batchError {
	var batch struct {
		Events *[]json.RawMessage `json:"events"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	err := dec.Decode(&batch)
	var ute *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return failBatch(http.StatusBadRequest, `empty body: send {"events": [...]}`)
	case errors.As(err, &ute) && ute.Field == "events":
		return failBatch(http.StatusBadRequest, `"events" must be an array, got %s`, ute.Value)
	case errors.As(err, &ute):
		return failBatch(http.StatusBadRequest, `body must be a JSON object {"events": [...]}, got %s`, ute.Value)
	case err != nil:
		return failBatch(http.StatusBadRequest, "body is not JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return failBatch(http.StatusBadRequest, "body is not JSON: data after the top-level object")
	}
	return failBatch(http.StatusBadRequest, "body is not JSON")
}

// decodeJSONEvent decodes one element of the events array (valid JSON) into ev;
// scratch is reused between events.
func (s *Server) decodeJSONEvent(ev *event, raw []byte, scratch []member) []member {
	if !validUTF8(raw) {
		ev.reject(reasonSchema, errors.New("event is not valid UTF-8"))
		return scratch
	}
	if len(raw) == 0 || raw[0] != '{' {
		ev.reject(reasonSchema, fmt.Errorf("event must be a JSON object, got %s", describe(raw)))
		return scratch
	}
	ms, err := members(raw, scratch)
	if err != nil {
		ev.reject(reasonSchema, fmt.Errorf("event is not a JSON object: %v", err))
		return scratch
	}
	var kindRaw []byte
	for _, m := range ms {
		switch {
		case m.is("kind"):
			kindRaw = m.val
		case m.is("event_id"):
			ev.clientID, _ = jsonString(m.val)
		}
	}
	if kindRaw == nil {
		ev.reject(reasonKind, fmt.Errorf("missing kind (one of %s)", s.kinds))
		return ms
	}
	kind, err := jsonString(kindRaw)
	if err != nil {
		ev.reject(reasonKind, fmt.Errorf("kind must be a string (one of %s)", s.kinds))
		return ms
	}
	js, ok := s.json[kind]
	if !ok {
		ev.reject(reasonKind, fmt.Errorf("unknown event kind %q (known: %s)", truncate(kind, 64), s.kinds))
		return ms
	}
	rec, err := js.decode(ms)
	if err != nil {
		ev.reject(reasonSchema, err)
		return ms
	}
	ev.schema, ev.rec = js.schema, rec
	return ms
}

// decodeAvro decodes a body of framed records: each is a 4-byte big-endian length
// followed by that many bytes of one Avro single-object encoded raw record. A
// broken frame fails the batch (nothing after it can be trusted); a record that
// does not decode fails only itself.
func (s *Server) decodeAvro(body []byte) ([]event, *batchError) {
	if len(body) == 0 {
		return nil, failBatch(http.StatusBadRequest, "empty body: send at least one framed record")
	}
	var frames [][]byte
	for off := 0; off < len(body); {
		if len(frames) == s.cfg.MaxEvents {
			return nil, failBatch(http.StatusRequestEntityTooLarge, "batch has more than --max-events (%d) records", s.cfg.MaxEvents)
		}
		if len(body)-off < 4 {
			return nil, failBatch(http.StatusBadRequest, "truncated frame %d at byte %d: %d bytes left, a length takes 4", len(frames), off, len(body)-off)
		}
		n := binary.BigEndian.Uint32(body[off:])
		off += 4
		if uint64(n) > uint64(len(body)-off) {
			return nil, failBatch(http.StatusBadRequest, "truncated frame %d at byte %d: declares %d bytes, %d left", len(frames), off-4, n, len(body)-off)
		}
		frames = append(frames, body[off:off+int(n)])
		off += int(n)
	}
	events := make([]event, len(frames))
	for i, f := range frames {
		ev := &events[i]
		sch, rec, err := s.deps.Schemas.Decode(f)
		switch {
		case errors.Is(err, schemas.ErrNotSingleObject):
			ev.reject(reasonMalformed, errors.New("record is not Avro single-object encoded (it must start with 0xC3 0x01 and a schema fingerprint)"))
			continue
		case errors.Is(err, schemas.ErrUnknownFingerprint):
			ev.reject(reasonKind, err)
			continue
		case err != nil:
			ev.reject(reasonMalformed, err)
			continue
		case sch.Stage != schemas.Raw:
			ev.reject(reasonKind, fmt.Errorf("fingerprint %s is the %s schema %s; the collector takes raw events", sch.FingerprintHex(), sch.Stage, sch.Name))
			continue
		}
		ev.schema, ev.rec = sch, rec
		ev.clientID, _ = rec["event_id"].(string)
	}
	return events, nil
}
