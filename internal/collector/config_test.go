package collector

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/config"
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
	cfg, err := parseConfig(t, map[string]string{"VEIL_TOKENS": "fleetA:" + tokenA})
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
	} {
		if got[0] != got[1] {
			t.Errorf("--%s defaults to %v, want %v", name, got[0], got[1])
		}
	}
	tokens, err := cfg.loadTokens()
	if err != nil || tokens[tokenA] != "fleetA" || len(tokens) != 1 {
		t.Errorf("tokens %v, %v; want fleetA's", tokens, err)
	}
}

func TestConfigValidateNamesTheBadFlag(t *testing.T) {
	tok := "--tokens=fleetA:" + tokenA
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--tokens or --tokens-file: at least one bearer token is required"},
		{[]string{"--tokens", "fleetA"}, "--tokens: entry 1 is not name:token"},
		{[]string{"--tokens", ":" + tokenA}, "--tokens: entry 1 is not name:token"},
		{[]string{"--tokens", "fleetA:short"}, `--tokens: the token of fleet "fleetA" is shorter than 16 characters`},
		{[]string{"--tokens", "fleetA:" + tokenA + ",fleetB:" + tokenA}, `--tokens: the token of fleet "fleetB" is configured twice`},
		{[]string{tok, "--max-body", "0"}, "--max-body: must be positive"},
		{[]string{tok, "--max-body", "lots"}, `invalid value "lots" for flag -max-body`},
		{[]string{tok, "--max-events", "0"}, "--max-events: must be positive"},
		{[]string{tok, "--max-inflight", "8MiB"}, "--max-inflight: 8388608 is less than --max-body + --max-decompressed (20971520)"},
		{[]string{tok, "--max-record-bytes", "100"}, "--max-record-bytes: at least 1KiB"},
		{[]string{tok, "--trusted-proxies", "10.0.0.0/8,proxy.local"}, `--trusted-proxies: "proxy.local" is neither a CIDR nor an address`},
		{[]string{tok, "--produce-timeout", "0s"}, "--produce-timeout: must be positive"},
		{[]string{tok, "--retry-after", "-1s"}, "--retry-after: must be positive"},
		{[]string{tok, "--listen", ""}, "--listen must not be empty"},
		{[]string{tok, "--brokers", ""}, "--brokers: at least one broker is required"},
	} {
		_, err := parseConfig(t, nil, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), tokenA) {
			t.Errorf("%v: the error shows a token: %v", tc.args, err)
		}
	}
}

func TestTokensFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "tokens")
	os.WriteFile(good, []byte("# fleets\nfleetB:"+tokenB+"\n\n  fleetC : "+strings.Repeat("c", 20)+"  \n"), 0o600)
	cfg, err := parseConfig(t, nil, "--tokens", "fleetA:"+tokenA, "--tokens-file", good)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := cfg.loadTokens()
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 3 || tokens[tokenA] != "fleetA" || tokens[tokenB] != "fleetB" || tokens[strings.Repeat("c", 20)] != "fleetC" {
		t.Errorf("tokens = %v, want fleetA, fleetB and fleetC", tokens)
	}
	only, err := parseConfig(t, nil, "--tokens-file", good)
	if err != nil {
		t.Fatalf("--tokens-file alone: %v", err)
	}
	if tokens, err := only.loadTokens(); err != nil || len(tokens) != 2 {
		t.Errorf("--tokens-file alone: %v, %v", tokens, err)
	}

	dup := filepath.Join(dir, "dup")
	os.WriteFile(dup, []byte("other:"+tokenA+"\n"), 0o600)
	cfg, _ = parseConfig(t, nil, "--tokens", "fleetA:"+tokenA, "--tokens-file", dup)
	if _, err := cfg.loadTokens(); err == nil || !strings.Contains(err.Error(), `fleet "other" is configured twice`) || strings.Contains(err.Error(), tokenA) {
		t.Errorf("a token in both places: %v", err)
	}
	cfg, _ = parseConfig(t, nil, "--tokens-file", filepath.Join(dir, "missing"))
	if _, err := cfg.loadTokens(); err == nil || !strings.Contains(err.Error(), "--tokens-file") {
		t.Errorf("a missing tokens file: %v", err)
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
