package collector

import (
	"bytes"
	"compress/gzip"
	"errors"
	"mime"
	"net/http"
	"strings"
)

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
