package privacytab_test

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/privacytab"
	"github.com/veiltelemetry/veil/schemas"
)

var update = flag.Bool("update", false, "rewrite docs/privacy.md")

// docsKey is the fixed demonstration key of docs/privacy.md, so that its example
// pseudonyms do not change from one generation to the next. It is public on
// purpose: it is no key the service uses.
var docsKey = sha256.Sum256([]byte("veil privacy tab demonstration key"))

// docsTime is the time the pseudonyms of docs/privacy.md are computed at: the
// schemas' example event time, so their epoch prefix is that of the example.
var docsTime = time.Date(2026, 11, 24, 13, 19, 5, 0, time.UTC)

func docsOptions() privacytab.Options {
	return privacytab.Options{DemoKey: docsKey[:], Now: func() time.Time { return docsTime }}
}

func docsTab(t *testing.T) *privacytab.Tab {
	t.Helper()
	tab, err := privacytab.Build(schemas.MustLoad(), docsOptions())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return tab
}

const docsPath = "../../docs/privacy.md"

func TestDocsPrivacyMDIsCurrent(t *testing.T) {
	var b bytes.Buffer
	if err := privacytab.Markdown(&b, docsTab(t)); err != nil {
		t.Fatalf("Markdown: %v", err)
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(docsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(docsPath, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./internal/privacytab -update)", err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Errorf("docs/privacy.md is stale: the schemas or the policy changed. Regenerate it with: go test ./internal/privacytab -update")
	}
}
