package collector

import (
	"errors"
	"fmt"
	"net/http"
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
