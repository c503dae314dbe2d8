package collector

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/veiltelemetry/veil/schemas"
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

// response is the JSON body of every /v1/events answer.
type response struct {
	Accepted int          `json:"accepted"`
	Rejected int          `json:"rejected"`
	Error    string       `json:"error,omitempty"`  // why the whole batch failed
	Errors   []eventError `json:"errors,omitempty"` // one per rejected event
}

type eventError struct {
	Index   int    `json:"index"`              // position in the batch, from 0
	EventID string `json:"event_id,omitempty"` // as the client sent it, if any
	Error   string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
