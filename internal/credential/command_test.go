package credential

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/config"
)

// issueConfig parses `producer credential issue` flags with env as the
// environment.
func issueConfig(t *testing.T, env map[string]string, args ...string) (IssueConfig, error) {
	t.Helper()
	var cfg IssueConfig
	fs := flag.NewFlagSet("credential issue", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.Register(fs)
	return cfg, config.Parse(fs, args, config.MapLookup(env))
}

func TestIssueCommandSignsWithTheFirstSecret(t *testing.T) {
	secrets := filepath.Join(t.TempDir(), "secrets")
	os.WriteFile(secrets, []byte("# rotated in December\nk2:"+secret2+"\nk1:"+secret1+"\n"), 0o600)
	keys := mustKeys(t, "k1:"+secret1+"\nk2:"+secret2)

	cfg, err := issueConfig(t, nil, "--credential-secrets-file", secrets, "--installation", "srv-1")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Issue(cfg, issuedAt, &out); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSuffix(out.String(), "\n")
	c, err := keys.Verify(tok, issuedAt)
	if err != nil || c.Installation != "srv-1" || c.KeyID != "k2" || !c.ExpiresAt.Equal(issuedAt.Add(DefaultTTL)) {
		t.Errorf("the text output %q verifies as %+v, %v; want srv-1's, signed with k2, for a year", out.String(), c, err)
	}

	cfg, err = issueConfig(t, map[string]string{"VEIL_CREDENTIAL_SECRETS": "k1:" + secret1}, "--installation", "app:android.42", "--ttl", "720h", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := Issue(cfg, issuedAt, &out); err != nil {
		t.Fatal(err)
	}
	var is Issued
	if err := json.Unmarshal(out.Bytes(), &is); err != nil {
		t.Fatalf("--format json: %v: %s", err, out.String())
	}
	want := Claims{Installation: "app:android.42", KeyID: "k1", IssuedAt: issuedAt, ExpiresAt: issuedAt.Add(720 * time.Hour)}
	if c, err := keys.Verify(is.Credential, issuedAt); err != nil || c != want || is.Claims != want {
		t.Errorf("--format json gave %+v verifying as %+v, %v; want %+v", is, c, err, want)
	}
}

func TestIssueCommandNamesTheBadFlag(t *testing.T) {
	env := map[string]string{"VEIL_CREDENTIAL_SECRETS": "k1:" + secret1}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--installation", "srv-1"}, "--credential-secrets-file or VEIL_CREDENTIAL_SECRETS is required"},
		{env, nil, "--installation is required"},
		{env, []string{"--installation", "srv 1"}, "--installation: installation_id may hold only"},
		{env, []string{"--installation", "srv-1", "--ttl", "0s"}, "--ttl: at least 1s"},
		{env, []string{"--installation", "srv-1", "--format", "yaml"}, `--format: want text or json, got "yaml"`},
		{map[string]string{"VEIL_CREDENTIAL_SECRETS": "k1:short"}, []string{"--installation", "srv-1"}, `VEIL_CREDENTIAL_SECRETS: the secret of key "k1" is shorter than 32 bytes`},
		{env, []string{"--credential-secret", secret1}, "flag provided but not defined"},
	} {
		cfg, err := issueConfig(t, tc.env, tc.args...)
		if err == nil {
			err = Issue(cfg, issuedAt, io.Discard)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: %v, want %q", tc.env, tc.args, err, tc.want)
		}
	}
}
