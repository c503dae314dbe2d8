package privacytab_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/privacytab"
	"github.com/veiltelemetry/veil/schemas"
)

// chromium returns the path of Debian's chromium, skipping the test visibly when it
// is missing, and failing it under CI=true, where scripts/test installs it.
func chromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is not on PATH under CI=true: %v", err)
		}
		t.Skip("SKIP: chromium is not on PATH (apt-get install -y chromium); the privacy page was not checked in a browser")
	}
	return path
}

// TestABrowserShowsEveryFieldOfEverySchema opens the page the collector would serve
// (built with a random demonstration key, as at startup) in headless Chromium and
// checks the DOM the browser built.
func TestABrowserShowsEveryFieldOfEverySchema(t *testing.T) {
	bin := chromium(t)
	reg := schemas.MustLoad()
	tab, err := privacytab.Build(reg, privacytab.Options{})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	var pageHits atomic.Int32
	h := privacytab.Handler(tab)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/privacy" {
			pageHits.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	profile, err := os.MkdirTemp("", "veil-chromium-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile) // best effort: a lingering helper may still write there
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, "--dump-dom", srv.URL+"/privacy")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	dom := string(out)
	if pageHits.Load() == 0 {
		t.Fatalf("chromium never requested /privacy; stderr:\n%s", stderr.String())
	}
	if !strings.Contains(dom, "<h1>"+tab.Title+"</h1>") {
		t.Fatalf("the DOM has no title; chromium printed %d bytes:\n%.2000s", len(dom), dom)
	}
	for _, s := range reg.All() {
		if s.Stage != schemas.Raw {
			continue
		}
		section := between(dom, `id="event-`+s.Kind+`"`, "</section>")
		if section == "" {
			t.Errorf("the DOM has no section for %s", s.Kind)
			continue
		}
		for _, f := range s.Fields {
			if !strings.Contains(section, `<th scope="row"><code>`+f.Name+`</code></th>`) {
				t.Errorf("the DOM has no row for %s.%s", s.Kind, f.Name)
			}
		}
	}
	for _, r := range tab.NeverKept {
		if !strings.Contains(between(dom, `id="never-kept"`, "</section>"), "<code>"+r.Field+"</code>") {
			t.Errorf("the DOM's never-kept list lacks %s", r.Field)
		}
	}
	for _, s := range tab.Linking.Scopes {
		if !strings.Contains(between(dom, `id="linking"`, "</section>"), `<th scope="row">`+s.Name+`</th>`) {
			t.Errorf("the DOM's linking section lacks scope %s", s.Name)
		}
	}
	for _, r := range tab.Audit.Rows {
		if !strings.Contains(between(dom, `id="audit"`, "</section>"), "("+r.UniqueShare+")") {
			t.Errorf("the DOM's audit section lacks the worst share %s", r.UniqueShare)
		}
	}
}
