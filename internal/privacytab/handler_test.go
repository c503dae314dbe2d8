package privacytab_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/veiltelemetry/veil/internal/privacytab"
)

func TestHandlerServesThePageAndTheJSON(t *testing.T) {
	tab := docsTab(t)
	srv := httptest.NewServer(privacytab.Handler(tab))
	defer srv.Close()
	page, doc, _ := render(t, tab)

	tests := []struct {
		name, method, path string
		status             int
		contentType, body  string
	}{
		{"the page", "GET", "/privacy", 200, "text/html; charset=utf-8", page},
		{"the JSON", "GET", "/privacy.json", 200, "application/json", doc},
		{"HEAD of the page has no body", "HEAD", "/privacy", 200, "text/html; charset=utf-8", ""},
		{"POST is not allowed", "POST", "/privacy", 405, "", ""},
		{"a trailing slash is another path", "GET", "/privacy/", 404, "", ""},
		{"other paths are not served", "GET", "/v1/events", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			if !bytes.Equal(body, []byte(tt.body)) {
				t.Errorf("body differs from the rendering (%d bytes, want %d)", len(body), len(tt.body))
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q, want default-src 'none'", csp)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("no X-Content-Type-Options: nosniff")
			}
		})
	}
}
