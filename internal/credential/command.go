package credential

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/veiltelemetry/veil/internal/config"
)

// DefaultTTL is the lifetime of an installation credential unless configured.
const DefaultTTL = 365 * 24 * time.Hour

// SecretsVar registers the server secrets on fs as --credential-secrets-file,
// or VEIL_CREDENTIAL_SECRETS holding the entries themselves (ParseKeys).
func SecretsVar(fs *flag.FlagSet, s *config.Secret) {
	config.SecretVar(fs, s, "credential-secrets-file", "VEIL_CREDENTIAL_SECRETS",
		"file of the secrets installation credentials are signed with, key-id:secret per line; the first signs, every one verifies")
}

// IssueConfig is the configuration of `producer credential issue`.
type IssueConfig struct {
	Secrets      config.Secret // --credential-secrets-file, or VEIL_CREDENTIAL_SECRETS
	Installation string        // --installation the credential is bound to (required)
	TTL          time.Duration // --ttl: the credential's lifetime, default DefaultTTL
	Format       string        // --format: text (the credential alone) or json (Issued), default text
}

// Register adds the flags to fs.
func (c *IssueConfig) Register(fs *flag.FlagSet) {
	SecretsVar(fs, &c.Secrets)
	fs.StringVar(&c.Installation, "installation", "", "installation id the credential is bound to (required)")
	fs.DurationVar(&c.TTL, "ttl", DefaultTTL, "lifetime of the credential")
	fs.StringVar(&c.Format, "format", "text", "text: the credential alone on a line; json: it and what it says")
}

// Validate names the first bad field.
func (c *IssueConfig) Validate() error {
	switch {
	case c.Secrets.Value() == "":
		return fmt.Errorf("--credential-secrets-file or VEIL_CREDENTIAL_SECRETS is required")
	case c.Installation == "":
		return fmt.Errorf("--installation is required")
	case c.TTL < time.Second:
		return fmt.Errorf("--ttl: at least 1s, got %s", c.TTL)
	case c.Format != "text" && c.Format != "json":
		return fmt.Errorf("--format: want text or json, got %q", c.Format)
	}
	return nil
}

// IssueCommand is `producer credential issue`: it signs a credential for one
// installation with the first server secret and writes it to out. It serves
// provisioning scripts on a machine that holds the secrets file; services call
// POST /v1/installations/{installation}/credential instead.
func IssueCommand(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
	var cfg IssueConfig
	cfg.Register(fs)
	return func(_ context.Context, _ *slog.Logger, out io.Writer) error { return Issue(cfg, time.Now(), out) }
}

// Issue writes a credential for cfg.Installation, issued at now, to out.
func Issue(cfg IssueConfig, now time.Time, out io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	keys, err := ParseKeys(cfg.Secrets.Value(), secretsSource(&cfg.Secrets))
	if err != nil {
		return err
	}
	is, err := keys.Issue(cfg.Installation, now, cfg.TTL)
	if err != nil {
		return fmt.Errorf("--installation: %w", err)
	}
	if cfg.Format == "json" {
		return json.NewEncoder(out).Encode(is)
	}
	_, err = fmt.Fprintln(out, is.Credential)
	return err
}

// secretsSource names where the secrets came from, for errors.
func secretsSource(s *config.Secret) string {
	if s.File() != "" {
		return "--credential-secrets-file " + s.File()
	}
	return s.Env
}
