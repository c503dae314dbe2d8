package collector

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/credential"
)

func parseConfig(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	var cfg Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.Register(fs)
	if err := config.Parse(fs, args, config.MapLookup(env)); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := parseConfig(t, map[string]string{"VEIL_TOKENS": "fleetA:relay:" + tokenA})
	if err != nil {
		t.Fatalf("defaults with a token from the environment: %v", err)
	}
	for name, got := range map[string][2]any{
		"listen":           {cfg.Listen, "127.0.0.1:8080"},
		"max-body":         {cfg.MaxBody, Bytes(4 << 20)},
		"max-decompressed": {cfg.MaxDecompressed, Bytes(16 << 20)},
		"max-events":       {cfg.MaxEvents, 5000},
		"max-inflight":     {cfg.MaxInflight, Bytes(64 << 20)},
		"max-record-bytes": {cfg.MaxRecordBytes, Bytes(1_000_000)},
		"produce-timeout":  {cfg.ProduceTimeout, 10 * time.Second},
		"retry-after":      {cfg.RetryAfter, time.Second},
		"trusted-proxies":  {len(cfg.TrustedProxies), 0},
		"topic-raw":        {cfg.Kafka.Topics.Raw, "telemetry.raw.v1"},
		"revoked-file":     {cfg.RevokedFile, ""},
		"revoked-recheck":  {cfg.RevokedRecheck, 5 * time.Second},
		"credential-ttl":   {cfg.CredentialTTL, 365 * 24 * time.Hour},
	} {
		if got[0] != got[1] {
			t.Errorf("--%s defaults to %v, want %v", name, got[0], got[1])
		}
	}
	tokens, keys, err := cfg.credentials()
	if err != nil || tokens.Len() != 1 || keys != nil {
		t.Fatalf("credentials: %d tokens, keys %v, %v; want fleetA's token and no keys", tokens.Len(), keys, err)
	}
	if role, name, ok := tokens.Lookup(tokenA); !ok || role != credential.Relay || name != "fleetA" {
		t.Errorf("the token from VEIL_TOKENS is %q %q %v, want relay fleetA", role, name, ok)
	}
}

func TestConfigValidateNamesTheBadFlag(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tok := "--tokens-file=" + file("tokens", "fleetA:relay:"+tokenA+"\n")
	secrets := file("secrets", testKeys)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "no credentials: give operator and relay tokens (--tokens-file or VEIL_TOKENS), installation credential secrets (--credential-secrets-file or VEIL_CREDENTIAL_SECRETS), or both"},
		{[]string{"--tokens", "fleetA:relay:" + tokenA}, nil, "flag provided but not defined: -tokens"},
		{[]string{tok}, map[string]string{"VEIL_TOKENS": "fleetB:relay:" + tokenB}, "--tokens-file and VEIL_TOKENS are both set"},
		{nil, map[string]string{"VEIL_TOKENS": "fleetA:" + tokenA}, `VEIL_TOKENS: entry 1 ("fleetA") is not name:role:token: write fleetA:relay:<token> for a trusted relay, fleetA:operator:<token> for an operator`},
		{[]string{"--tokens-file", file("legacy", "# fleets\nfleetA:"+tokenA+"\n")}, nil, "--tokens-file " + dir + `/legacy: entry 1 ("fleetA") is not name:role:token`},
		{nil, map[string]string{"VEIL_TOKENS": "fleetA:admin:" + tokenA}, `VEIL_TOKENS: entry 1 ("fleetA"): the role is neither operator nor relay`},
		{nil, map[string]string{"VEIL_TOKENS": "fleetA:relay:short"}, `VEIL_TOKENS: the token of "fleetA" (entry 1) is shorter than 16 characters`},
		{nil, map[string]string{"VEIL_TOKENS": "# only a comment"}, "VEIL_TOKENS: no name:role:token entry, and no installation credential secrets"},
		{[]string{"--credential-secrets-file", file("weak", "k1:too-short\n")}, nil, "--credential-secrets-file " + dir + `/weak: the secret of key "k1" is shorter than 32 bytes`},
		{[]string{"--revoked-file", file("revoked", "")}, map[string]string{"VEIL_TOKENS": "fleetA:relay:" + tokenA}, "--revoked-file revokes installation credentials, which need --credential-secrets-file or VEIL_CREDENTIAL_SECRETS"},
		{[]string{"--credential-secrets-file", secrets, "--revoked-recheck", "-1s"}, nil, "--revoked-recheck: must not be negative"},
		{[]string{"--credential-secrets-file", secrets, "--credential-ttl", "30s"}, nil, "--credential-ttl: at least 1m"},
		{[]string{tok, "--max-body", "0"}, nil, "--max-body: must be positive"},
		{[]string{tok, "--max-body", "lots"}, nil, `invalid value "lots" for flag -max-body`},
		{[]string{tok, "--max-events", "0"}, nil, "--max-events: must be positive"},
		{[]string{tok, "--max-inflight", "8MiB"}, nil, "--max-inflight: 8388608 is less than --max-body + --max-decompressed (20971520)"},
		{[]string{tok, "--max-record-bytes", "100"}, nil, "--max-record-bytes: at least 1KiB"},
		{[]string{tok, "--trusted-proxies", "10.0.0.0/8,proxy.local"}, nil, `--trusted-proxies: "proxy.local" is neither a CIDR nor an address`},
		{[]string{tok, "--produce-timeout", "0s"}, nil, "--produce-timeout: must be positive"},
		{[]string{tok, "--retry-after", "-1s"}, nil, "--retry-after: must be positive"},
		{[]string{tok, "--listen", ""}, nil, "--listen must not be empty"},
		{[]string{tok, "--brokers", ""}, nil, "--brokers: at least one broker is required"},
	} {
		_, err := parseConfig(t, tc.env, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: error %v, want %q", tc.args, tc.env, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), tokenA) || strings.Contains(err.Error(), "secret-of-the-tests") || strings.Contains(err.Error(), "too-short")) {
			t.Errorf("%v %v: the error shows a secret: %v", tc.args, tc.env, err)
		}
	}
}

// Tokens come from a file or from VEIL_TOKENS, never from the command line;
// installation credential secrets likewise.
func TestCredentialsFromAFileOrTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	tokensFile := filepath.Join(dir, "tokens")
	os.WriteFile(tokensFile, []byte("# relays and operators\nfleetB:relay:"+tokenB+"\n\n  ops : operator : "+tokenOps+"  \nfleetB:relay:"+strings.Repeat("b", 20)+"\n"), 0o600)
	secretsFile := filepath.Join(dir, "secrets")
	os.WriteFile(secretsFile, []byte(testKeys), 0o600)

	fromFiles, err := parseConfig(t, nil, "--tokens-file", tokensFile, "--credential-secrets-file", secretsFile)
	if err != nil {
		t.Fatal(err)
	}
	fromEnv, err := parseConfig(t, map[string]string{
		"VEIL_TOKENS":             "fleetB:relay:" + tokenB + ",ops:operator:" + tokenOps + ",fleetB:relay:" + strings.Repeat("b", 20),
		"VEIL_CREDENTIAL_SECRETS": strings.ReplaceAll(strings.TrimSpace(testKeys), "\n", ","),
	})
	if err != nil {
		t.Fatal(err)
	}
	viaFileVariables, err := parseConfig(t, map[string]string{"VEIL_TOKENS_FILE": tokensFile, "VEIL_CREDENTIAL_SECRETS_FILE": secretsFile})
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{"files": fromFiles, "variables": fromEnv, "files named by variables": viaFileVariables} {
		tokens, keys, err := cfg.credentials()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for tok, want := range map[string][2]string{tokenB: {"relay", "fleetB"}, strings.Repeat("b", 20): {"relay", "fleetB"}, tokenOps: {"operator", "ops"}} {
			if role, n, ok := tokens.Lookup(tok); !ok || string(role) != want[0] || n != want[1] {
				t.Errorf("%s: a token is %q %q %v, want %v", name, role, n, ok, want)
			}
		}
		if _, _, ok := tokens.Lookup(tokenA); ok || tokens.Len() != 3 {
			t.Errorf("%s: %d tokens, tokenA found %v; want 3 and not tokenA", name, tokens.Len(), ok)
		}
		if keys == nil || keys.Signing() != "k2" {
			t.Errorf("%s: keys %v, want k2 signing", name, keys)
		}
	}
	missing, err := parseConfig(t, nil, "--tokens-file", filepath.Join(dir, "missing"))
	if err == nil || !strings.Contains(err.Error(), "--tokens-file") {
		t.Errorf("a missing tokens file: %v, %v", missing, err)
	}
}

func TestBytesFlag(t *testing.T) {
	for in, want := range map[string]Bytes{"65536": 65536, "4MiB": 4 << 20, "16 KiB": 16 << 10, "1GiB": 1 << 30, "2MB": 2_000_000, "10B": 10} {
		var b Bytes
		if err := b.Set(in); err != nil || b != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
		var again Bytes
		if err := again.Set(b.String()); err != nil || again != b {
			t.Errorf("String() of %d is %q, which parses to %d", b, b.String(), again)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "4 MiBs", "9999999999GiB"} {
		var b Bytes
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) = %d, want an error", in, b)
		}
	}
}
