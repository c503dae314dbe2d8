package collector

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// Content types of POST /v1/events.
const (
	ContentTypeJSON = "application/json"
	ContentTypeAvro = stream.AvroContentType // framed single-object records, see API.md
)

// batchError fails a whole request.
type batchError struct {
	status int
	msg    string
}

func (e *batchError) Error() string { return e.msg }

func failBatch(status int, format string, args ...any) *batchError {
	return &batchError{status: status, msg: fmt.Sprintf(format, args...)}
}

// event is one event of a batch on its way to Kafka.
type event struct {
	schema   *schemas.Schema
	rec      map[string]any
	clientID string // event_id as sent, for error reports
	err      error  // why it was rejected
	reason   string // metric label of err
}

func (e *event) reject(reason string, err error) { e.reason, e.err = reason, err }

// handleEvents serves POST /v1/events. See API.md for the protocol; in short: 202
// when Kafka acknowledged every event not listed as rejected, 400/413/415 for
// input that can never be accepted, 503 with Retry-After when Kafka or the
// in-flight budget cannot take the batch now.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	fleet := Fleet(r.Context())
	l := s.budget.lease()
	handedOff := false
	defer func() {
		if !handedOff {
			l.release()
		}
	}()
	events, berr := s.readEvents(w, r, l)
	if berr != nil {
		s.fail(w, berr)
		return
	}
	s.m.received.WithLabelValues(fleet).Add(float64(len(events)))
	s.m.batch.Observe(float64(len(events)))
	if !s.ownEvents(w, r, events) {
		return
	}

	now := s.now()
	ip := clientIP(r, s.trusted)
	msgs := make([]kafka.Message, 0, len(events))
	index := make([]int, 0, len(events)) // msgs[j] is events[index[j]]
	var size int64
	for i := range events {
		ev := &events[i]
		if ev.err != nil {
			continue
		}
		msg, err := s.prepare(ev, ip, now)
		if err != nil {
			continue
		}
		size += recordSize(msg)
		msgs = append(msgs, msg)
		index = append(index, i)
	}
	if len(msgs) == 0 {
		s.respond(w, http.StatusBadRequest, events, "no valid events in the batch")
		return
	}
	switch err := l.grow(size); {
	case errors.Is(err, errNeverFits):
		s.fail(w, failBatch(http.StatusRequestEntityTooLarge, "the encoded batch needs more than --max-inflight (%d bytes); send smaller batches", s.cfg.MaxInflight))
		return
	case err != nil:
		s.unavailable(w, events, err.Error())
		return
	}

	handedOff = true
	done := s.produceAsync(msgs, l)
	timer := time.NewTimer(s.cfg.ProduceTimeout)
	defer timer.Stop()
	var res produceResult
	select {
	case res = <-done:
	case <-timer.C:
		s.log.Warn("kafka did not acknowledge in time", "fleet", fleet, "events", len(msgs), "timeout", s.cfg.ProduceTimeout)
		s.unavailable(w, events, fmt.Sprintf("Kafka did not acknowledge the events within %s", s.cfg.ProduceTimeout))
		return
	}
	if res.err != nil {
		s.log.Warn("kafka write failed", "fleet", fleet, "events", len(msgs), "err", res.err)
		s.unavailable(w, events, "Kafka did not acknowledge every event: "+res.err.Error())
		return
	}
	for j, err := range res.refused {
		events[index[j]].reject(reasonRefused, err)
	}
	s.m.deadLettered.Add(float64(res.deadLettered))
	accepted := len(msgs) - len(res.refused)
	s.m.accepted.WithLabelValues(fleet).Add(float64(accepted))
	status := http.StatusAccepted
	if accepted == 0 {
		status = http.StatusBadRequest
	}
	s.respond(w, status, events, "")
}

// readEvents checks the request's headers, reads its body within the limits and
// decodes the batch. Each event either carries its record or its error.
func (s *Server) readEvents(w http.ResponseWriter, r *http.Request, l *lease) ([]event, *batchError) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (ct != ContentTypeJSON && ct != ContentTypeAvro) {
		return nil, failBatch(http.StatusUnsupportedMediaType, "unsupported content type %q: send %s or %s", truncate(r.Header.Get("Content-Type"), 64), ContentTypeJSON, ContentTypeAvro)
	}
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return nil, failBatch(http.StatusUnsupportedMediaType, "unsupported content encoding %q: send gzip or none", truncate(enc, 32))
	}
	body, berr := s.readBody(w, r, l, gz)
	if berr != nil {
		return nil, berr
	}
	if ct == ContentTypeAvro {
		return s.decodeAvro(body)
	}
	return s.decodeJSON(body)
}

// readBody reads the body into memory, counting it (and its inflated form) against
// the request's lease as it arrives: a body the client declares but sends slowly
// holds only what came.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, l *lease, gz bool) ([]byte, *batchError) {
	limit := int64(s.cfg.MaxBody)
	if r.ContentLength > limit {
		return nil, failBatch(http.StatusRequestEntityTooLarge, "body of %d bytes exceeds --max-body (%d bytes)", r.ContentLength, limit)
	}
	body, err := readLeased(http.MaxBytesReader(w, r.Body, limit), l, r.ContentLength, limit)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), errors.Is(err, errTooLong):
		return nil, failBatch(http.StatusRequestEntityTooLarge, "body exceeds --max-body (%d bytes)", limit)
	case errors.Is(err, ErrBusy), errors.Is(err, errNeverFits):
		return nil, budgetError(err)
	case errors.Is(err, ErrSlowBody):
		w.Header().Set("Connection", "close")
		return nil, failBatch(http.StatusRequestTimeout, "%v", err)
	case err != nil:
		return nil, failBatch(http.StatusBadRequest, "reading the body: %v", err)
	}
	if !gz {
		return body, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, failBatch(http.StatusBadRequest, "body is not gzip: %v", err)
	}
	dlimit := int64(s.cfg.MaxDecompressed)
	inflated, err := readLeased(zr, l, -1, dlimit)
	switch {
	case errors.Is(err, ErrBusy), errors.Is(err, errNeverFits):
		return nil, budgetError(err)
	case errors.Is(err, errTooLong):
		return nil, failBatch(http.StatusRequestEntityTooLarge, "gzip body inflates beyond --max-decompressed (%d bytes)", dlimit)
	case err != nil:
		return nil, failBatch(http.StatusBadRequest, "body is not valid gzip: %v", err)
	}
	return inflated, nil
}

func budgetError(err error) *batchError {
	if errors.Is(err, errNeverFits) {
		return failBatch(http.StatusRequestEntityTooLarge, "%v", err)
	}
	return &batchError{status: http.StatusServiceUnavailable, msg: err.Error()}
}

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

// prepare completes an event (event_id, client_ip), validates and encodes it.
func (s *Server) prepare(ev *event, ip string, now time.Time) (kafka.Message, error) {
	if id, _ := ev.rec["event_id"].(string); id == "" {
		ev.rec["event_id"] = uuid.NewString()
	}
	if _, has := ev.rec["client_ip"]; has {
		if v, _ := ev.rec["client_ip"].(string); v == "" {
			ev.rec["client_ip"] = ip
		}
	}
	if err := schemas.Validate(ev.schema, ev.rec, schemas.WindowAt(now, s.cfg.MaxAge)); err != nil {
		ev.reject(reasonInvalid, err)
		return kafka.Message{}, err
	}
	value, err := ev.schema.Encode(nil, ev.rec)
	if err != nil {
		ev.reject(reasonEncode, err)
		return kafka.Message{}, err
	}
	key, _ := ev.rec["installation_id"].(string)
	msg := kafka.Message{
		Topic:   s.deps.Topics.Raw,
		Key:     []byte(key),
		Value:   value,
		Headers: stream.RecordHeaders(ev.schema, "collector"),
	}
	if n := recordSize(msg); n > int64(s.cfg.MaxRecordBytes) {
		err := fmt.Errorf("encoded record of %d bytes exceeds --max-record-bytes (%d)", n, s.cfg.MaxRecordBytes)
		ev.reject(reasonTooLarge, err)
		return kafka.Message{}, err
	}
	ev.rec = nil // encoded: let the map go
	return msg, nil
}

// recordSize bounds the size kafka-go counts for a message against BatchBytes
// (key, value, headers and framing), from above.
func recordSize(m kafka.Message) int64 {
	n := int64(32 + len(m.Key) + len(m.Value))
	for _, h := range m.Headers {
		n += int64(10 + len(h.Key) + len(h.Value))
	}
	return n
}

// respond writes the per-event outcome and counts the rejections.
func (s *Server) respond(w http.ResponseWriter, status int, events []event, batchMsg string) {
	resp := response{Error: batchMsg}
	for i := range events {
		ev := &events[i]
		if ev.err == nil {
			resp.Accepted++
			continue
		}
		resp.Rejected++
		s.m.rejected.WithLabelValues(ev.reason).Inc()
		resp.Errors = append(resp.Errors, eventError{Index: i, EventID: truncate(ev.clientID, schemas.MaxID), Error: ev.err.Error()})
	}
	writeJSON(w, status, resp)
}

// unavailable answers 503 with Retry-After: none of the batch counts as accepted,
// and the client retries all of it.
func (s *Server) unavailable(w http.ResponseWriter, events []event, msg string) {
	resp := response{Error: msg + "; retry the whole batch after Retry-After"}
	for i := range events {
		if ev := &events[i]; ev.err != nil {
			resp.Rejected++
			resp.Errors = append(resp.Errors, eventError{Index: i, EventID: truncate(ev.clientID, schemas.MaxID), Error: ev.err.Error()})
		}
	}
	w.Header().Set("Retry-After", s.retryAfter())
	writeJSON(w, http.StatusServiceUnavailable, resp)
}

// fail answers a batch-level error.
func (s *Server) fail(w http.ResponseWriter, e *batchError) {
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", s.retryAfter())
		e.msg += "; retry after Retry-After"
	}
	writeJSON(w, e.status, response{Error: e.msg})
}

func (s *Server) retryAfter() string {
	return strconv.Itoa(int(math.Ceil(s.cfg.RetryAfter.Seconds())))
}
