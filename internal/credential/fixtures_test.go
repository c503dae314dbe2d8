package credential

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every rejected input has a fixture in testdata/<kind>/*.bad whose first line
// says "# want: " and part of the error it must produce. No error may show a
// token or a secret of the file.
func TestBadFixturesAreRefusedWithTheirError(t *testing.T) {
	parsers := map[string]func(text, source string) error{
		"tokens":  func(text, source string) error { _, err := ParseTokens(text, source); return err },
		"keys":    func(text, source string) error { _, err := ParseKeys(text, source); return err },
		"revoked": func(text, source string) error { _, err := ParseRevocations(text, source); return err },
	}
	for kind, parse := range parsers {
		files, err := filepath.Glob(filepath.Join("testdata", kind, "*.bad"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no testdata/%s/*.bad: %v", kind, err)
		}
		for _, f := range files {
			t.Run(kind+"/"+filepath.Base(f), func(t *testing.T) {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				first, _, _ := strings.Cut(string(b), "\n")
				want, ok := strings.CutPrefix(first, "# want: ")
				if !ok {
					t.Fatalf("%s does not start with a # want: line", f)
				}
				err = parse(string(b), f)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want one containing %q", err, want)
				}
				if !strings.HasPrefix(err.Error(), f+": ") {
					t.Errorf("error %q does not start with its source", err)
				}
				msg := strings.TrimPrefix(err.Error(), f+": ")
				for _, s := range secretsOf(kind, string(b)) {
					if strings.Contains(msg, s) {
						t.Errorf("error %q shows a secret of the file", err)
					}
				}
			})
		}
	}
}

// secretsOf returns the parts of the file's entries that may hold a secret:
// everything after a token's name or a key's id but the role words.
func secretsOf(kind, text string) []string {
	var out []string
	if kind == "revoked" {
		return nil
	}
	for _, e := range entries(text) {
		parts := strings.Split(e, ":")
		for _, p := range parts[1:] {
			switch p = strings.TrimSpace(p); p {
			case "", "relay", "operator", "installation", "admin":
			default:
				out = append(out, p)
			}
		}
	}
	return out
}

func TestGoodFixturesParse(t *testing.T) {
	b, _ := os.ReadFile("testdata/tokens/good.tokens")
	tokens, err := ParseTokens(string(b), "good.tokens")
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string][2]string{
		"relay-token-0123456789":         {"relay", "media-servers"},
		"relay-token-new-0123456789":     {"relay", "media-servers"},
		"operator-token-0123456789":      {"operator", "ops"},
		"backup-operator-token-0123":     {"operator", "backup-ops"},
		"relay-token-012345678":          {"", ""},
		"media-servers":                  {"", ""},
		"relay:relay-token-0123456789":   {"", ""},
		" relay-token-0123456789":        {"", ""},
		"operator-token-0123456789 ":     {"", ""},
		"RELAY-TOKEN-0123456789":         {"", ""},
		"relay-token-01234567890":        {"", ""},
		"ops:operator:operator-token-01": {"", ""},
	} {
		role, name, ok := tokens.Lookup(tok)
		if string(role) != want[0] || name != want[1] || ok != (want[0] != "") {
			t.Errorf("Lookup(%q) = %q %q %v, want %q %q", tok, role, name, ok, want[0], want[1])
		}
	}
	if tokens.Len() != 4 {
		t.Errorf("%d tokens, want 4", tokens.Len())
	}
	var none *Tokens
	if _, _, ok := none.Lookup("relay-token-0123456789"); ok || none.Len() != 0 {
		t.Error("no tokens configured, yet one matched")
	}

	b, _ = os.ReadFile("testdata/keys/good.keys")
	keys, err := ParseKeys(string(b), "good.keys")
	if err != nil || keys.Signing() != "2026-12" || len(keys.ids) != 2 {
		t.Errorf("good.keys: %v, signing %q, want 2 keys, 2026-12 signing", err, keys.Signing())
	}

	b, _ = os.ReadFile("testdata/revoked/good.revoked")
	rev, err := ParseRevocations(string(b), "good.revoked")
	if err != nil || rev.Len() != 3 {
		t.Errorf("good.revoked: %v, %d installations, want 3", err, rev.Len())
	}
}
