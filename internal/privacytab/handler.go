package privacytab

import (
	"bytes"
	"net/http"
	"strconv"
)

// Handler serves the tab: GET /privacy as an HTML page and GET /privacy.json as
// JSON (HEAD too; other methods get 405 from the mux). Both are rendered once, here:
// the tab describes the schemas and policy compiled into the binary, which do not
// change while it runs. It answers 404 to every other path, so a router mounts it
// on exactly those two: mux.Handle("/privacy", h); mux.Handle("/privacy.json", h).
//
// Build the tab with the collector's own IP database, if it has one, and no
// DemoKey: the example pseudonyms then use a random key that Build deletes, so the
// process serving the page never holds a key of the enricher.
func Handler(t *Tab) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /privacy", rendered("text/html; charset=utf-8", func(b *bytes.Buffer) error { return HTML(b, t, "privacy.json") }))
	mux.Handle("GET /privacy.json", rendered("application/json", func(b *bytes.Buffer) error { return JSON(b, t) }))
	return mux
}

// rendered serves the bytes render writes, or a 500 naming the failure if it fails
// (a bug the tests catch: the tab is plain data).
func rendered(contentType string, render func(*bytes.Buffer) error) http.Handler {
	var b bytes.Buffer
	err := render(&b)
	body := b.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if err != nil {
			http.Error(w, "privacy tab: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		// The page needs nothing but its own inline style.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body) // a failed write means the client went away; nothing to do

	})
}
