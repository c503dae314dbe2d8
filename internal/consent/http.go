package consent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/privacy"
	"github.com/veiltelemetry/veil/schemas"
)

// maxRequest bounds a PUT body: a handful of category names fit many times over.
const maxRequest = 64 << 10

// API serves GET and PUT /v1/consent/{installation}. Mount it behind
// authentication and authorization; it does neither itself. `producer serve`
// lets operators and the installation's own credential use it.
//
// PUT writes the new opt-outs to the consent topic and answers 200 only once
// Kafka acknowledged the record (acks=all): from then on every enricher that has
// read it drops the installation's events of those categories, including events
// already waiting in the raw topic. GET answers from Store, which the producer
// keeps by following the topic, so it is eventually consistent with PUTs made
// through other producer instances; a PUT through this instance is visible to
// its GETs at once.
type API struct {
	Writer     Writer          // writes to Topic; a kafka-go *Writer with acks=all
	Topic      string          // the consent topic
	Store      *Store          // followed from Topic (see Follow)
	Loaded     <-chan struct{} // closed once Store holds the whole topic; nil: already loaded
	RetryAfter time.Duration   // of 503 answers; default 1s
	Log        *slog.Logger
	Now        func() time.Time // default time.Now
}

// Writer is what Publish needs of a kafka-go *Writer.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// state is the JSON of a GET answer, and of a PUT answer: the installation's
// opt-outs after the PUT.
type state struct {
	Installation string   `json:"installation_id"`
	OptOut       []string `json:"opt_out"`
	Categories   []string `json:"categories"` // what can be opted out of
	// UpdatedAt is when the opt-outs were set, to consent.UpdatedAtPrecision;
	// absent when there are none (never set, or opted back in: the record is
	// deleted).
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

func newState(inst string, optOut []string, updatedAt time.Time) state {
	st := state{Installation: inst, OptOut: optOut, Categories: Categories()}
	if st.OptOut == nil {
		st.OptOut = []string{}
	}
	if len(optOut) > 0 && !updatedAt.IsZero() {
		st.UpdatedAt = &updatedAt
	}
	return st
}

// putRequest is the JSON body of a PUT: the complete list of opt-outs. An empty
// list opts back in to everything.
type putRequest struct {
	OptOut *[]string `json:"opt_out"`
}

// Register mounts the two routes with handle, e.g. the collector's Server.Handle
// with authentication on.
func (a *API) Register(handle func(pattern string, h http.Handler)) {
	handle("GET /v1/consent/{installation}", http.HandlerFunc(a.get))
	handle("PUT /v1/consent/{installation}", http.HandlerFunc(a.put))
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	inst, err := installation(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !a.loaded() {
		a.unavailable(w, "consent state is still loading from Kafka")
		return
	}
	opt, at := a.Store.State(inst)
	writeJSON(w, http.StatusOK, newState(inst, opt, at))
}

func (a *API) put(w http.ResponseWriter, r *http.Request) {
	inst, err := installation(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: want application/json", ct))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", maxRequest))
			return
		}
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	var req putRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error()+` (want {"opt_out": ["playback", ...]})`)
		return
	}
	if req.OptOut == nil {
		writeError(w, http.StatusBadRequest, `body: "opt_out" is required: the complete list of opted-out categories, [] for none`)
		return
	}
	opt := slices.Clone(*req.OptOut)
	slices.Sort(opt)
	opt = slices.Compact(opt)
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	rec := Record{Installation: inst, OptOut: opt, UpdatedAt: now().UTC().Truncate(UpdatedAtPrecision)}
	if err := rec.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := Publish(r.Context(), a.Writer, a.Topic, rec); err != nil {
		if a.Log != nil {
			a.Log.Warn("consent write failed", "err", err)
		}
		a.unavailable(w, "Kafka did not acknowledge the consent record: "+err.Error())
		return
	}
	// The follower will read the same record back; applying it now makes this
	// instance's GETs read their own write.
	value, _ := json.Marshal(rec)
	if len(opt) == 0 {
		value = nil
	}
	_ = a.Store.Apply([]byte(inst), value)
	writeJSON(w, http.StatusOK, newState(inst, opt, rec.UpdatedAt))
}

func (a *API) loaded() bool {
	if a.Loaded == nil {
		return true
	}
	select {
	case <-a.Loaded:
		return true
	default:
		return false
	}
}

func (a *API) unavailable(w http.ResponseWriter, msg string) {
	ra := a.RetryAfter
	if ra <= 0 {
		ra = time.Second
	}
	w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
	writeError(w, http.StatusServiceUnavailable, msg)
}

// installation returns the path's installation id, or why it is unusable: the
// one syntax of installation ids (schemas.CheckInstallationID), the same as
// POST /v1/events checks, so an id accepted here names events accepted there.
func installation(r *http.Request) (string, error) {
	inst := r.PathValue("installation")
	if err := schemas.CheckInstallationID(inst); err != nil {
		return "", errors.New(strings.TrimPrefix(err.Error(), schemas.ErrInvalid.Error()+": "))
	}
	return inst, nil
}

// Categories returns what an installation can opt out of.
func Categories() []string { return slices.Clone(privacy.Categories) }

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Error string `json:"error"`
	}{msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
