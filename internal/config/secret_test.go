package config_test

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veiltelemetry/veil/internal/config"
)

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "s3cret\n")
	crlf := write("crlf", "s3cret\r\n")
	empty := write("empty", "")
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"nothing given means no password", nil, nil, "", ""},
		{"the file flag reads the file without its line break", []string{"--db-password-file", good}, nil, "s3cret", ""},
		{"a Windows line break is removed too", []string{"--db-password-file", crlf}, nil, "s3cret", ""},
		{"the file flag can come from its environment variable", nil, map[string]string{"VEIL_DB_PASSWORD_FILE": good}, "s3cret", ""},
		{"the secret itself comes from its variable", nil, map[string]string{"VEIL_DB_PASSWORD": "from-env"}, "from-env", ""},
		{"file and variable together are refused", []string{"--db-password-file", good}, map[string]string{"VEIL_DB_PASSWORD": "x"}, "", "both set"},
		{"an empty variable is refused", nil, map[string]string{"VEIL_DB_PASSWORD": ""}, "", "set but empty"},
		{"an empty file is refused", []string{"--db-password-file", empty}, nil, "", "is empty"},
		{"a missing file is refused, naming the flag", []string{"--db-password-file", filepath.Join(dir, "nope")}, nil, "", "--db-password-file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var s config.Secret
			config.SecretVar(fs, &s, "db-password-file", "VEIL_DB_PASSWORD", "file holding the password")
			err := config.Parse(fs, tc.args, config.MapLookup(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Value() != tc.want {
				t.Errorf("Value() = %q, want %q", s.Value(), tc.want)
			}
		})
	}
}

// No flag takes a password, and neither the flag's value nor the help shows one.
func TestSecretIsNeverPrinted(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte("hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var help bytes.Buffer
	fs.SetOutput(&help)
	var s config.Secret
	config.SecretVar(fs, &s, "db-password-file", "VEIL_DB_PASSWORD", "file holding the password")
	if err := config.Parse(fs, []string{"--db-password-file", p}, config.MapLookup(nil)); err != nil {
		t.Fatal(err)
	}
	if got := fs.Lookup("db-password-file").Value.String(); got != p {
		t.Errorf("the flag's value prints as %q, want the path %q", got, p)
	}
	if err := config.Parse(fs, []string{"--db-password", "x"}, config.MapLookup(nil)); err == nil {
		t.Error("--db-password was accepted: a password must not be settable on the command line")
	}
	_ = config.Parse(fs, []string{"-h"}, config.MapLookup(nil))
	if strings.Contains(help.String(), "hunter2") {
		t.Errorf("the help shows the password:\n%s", help.String())
	}
	if !strings.Contains(help.String(), "VEIL_DB_PASSWORD") {
		t.Errorf("the help does not name the variable that may hold the password:\n%s", help.String())
	}
}
