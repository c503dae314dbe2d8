package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// File writes content to a file called name in a directory of its own that is
// removed when the test ends, and returns its path: a tokens file for
// --tokens-file, secrets for --credential-secrets-file.
func File(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
