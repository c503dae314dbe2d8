package collector

import (
	"flag"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/credential"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// Config of `producer serve`.
type Config struct {
	Kafka           stream.Kafka
	Listen          string        // --listen: address of the HTTP server, default 127.0.0.1:8080
	Tokens          config.Secret // --tokens-file, or VEIL_TOKENS: operator and relay tokens, name:role:token per line (credential.ParseTokens)
	Secrets         config.Secret // --credential-secrets-file, or VEIL_CREDENTIAL_SECRETS: key-id:secret per line, the first signs (credential.ParseKeys); none: no installation credentials
	RevokedFile     string        // --revoked-file: revoked installation credentials (credential.ParseRevocations), read again when it changes; default none
	RevokedRecheck  time.Duration // --revoked-recheck: how often --revoked-file is looked at for changes, default 5s (0: on every request)
	CredentialTTL   time.Duration // --credential-ttl: lifetime of the credentials POST /v1/installations/{id}/credential issues, default 8760h
	MaxBody         Bytes         // --max-body: request body as sent, default 4MiB (413 above)
	MaxDecompressed Bytes         // --max-decompressed: gzip body once inflated, default 16MiB (413 above)
	MaxEvents       int           // --max-events: events per batch, default 5000 (413 above)
	MaxInflight     Bytes         // --max-inflight: bytes held by all requests together, default 64MiB (503 above)
	MaxRecordBytes  Bytes         // --max-record-bytes: one encoded Kafka record, and the writer's batch size, default 1000000
	TrustedProxies  config.List   // --trusted-proxies: CIDRs whose X-Forwarded-For is believed, default none
	ProduceTimeout  time.Duration // --produce-timeout: how long a request waits for Kafka, default 10s (503 after)
	RetryAfter      time.Duration // --retry-after: the Retry-After of a 503, default 1s
	ReadTimeout     time.Duration // --read-timeout: to read a whole request, default 60s
	DrainTimeout    time.Duration // --drain-timeout: how long shutdown waits for requests in flight, default 30s
	MaxAge          time.Duration // --max-event-age: oldest event_time accepted, default 168h (7 days; 400 for older events)
	Limits                        // slow and greedy clients: body rate, connections, rate per credential (limits.go)
}

// Register adds the flags to fs with their defaults.
func (c *Config) Register(fs *flag.FlagSet) {
	c.Kafka.Register(fs)
	c.MaxBody, c.MaxDecompressed, c.MaxInflight, c.MaxRecordBytes = 4<<20, 16<<20, 64<<20, 1_000_000
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address of the HTTP API (/v1/events, /v1/consent, /privacy, /metrics, /healthz, /readyz)")
	config.SecretVar(fs, &c.Tokens, "tokens-file", "VEIL_TOKENS", "file of operator and relay bearer tokens, name:role:token per line (role operator or relay; '#' starts a comment); the name appears in logs and metrics, the token never")
	credential.SecretsVar(fs, &c.Secrets)
	fs.StringVar(&c.RevokedFile, "revoked-file", "", "file of revoked installation credentials: an installation id per line, optionally with an RFC 3339 time (those issued before it); read again when it changes")
	fs.DurationVar(&c.RevokedRecheck, "revoked-recheck", 5*time.Second, "how often --revoked-file is looked at for changes (0: on every request)")
	fs.DurationVar(&c.CredentialTTL, "credential-ttl", credential.DefaultTTL, "lifetime of the installation credentials POST /v1/installations/{installation}/credential issues")
	fs.Var(&c.MaxBody, "max-body", "largest request body as sent (413 above); suffixes KiB, MiB, GiB")
	fs.Var(&c.MaxDecompressed, "max-decompressed", "largest gzip request body once inflated (413 above)")
	fs.IntVar(&c.MaxEvents, "max-events", 5000, "most events in one batch (413 above)")
	fs.Var(&c.MaxInflight, "max-inflight", "bytes all requests in flight may hold together (bodies, inflated bodies, encoded records); above it requests get 503 at once")
	fs.Var(&c.MaxRecordBytes, "max-record-bytes", "largest encoded Kafka record, and the size of the writer's batches; keep it under the broker's message.max.bytes")
	fs.Var(&c.TrustedProxies, "trusted-proxies", "CIDRs of proxies whose X-Forwarded-For is believed, comma-separated (default none)")
	fs.DurationVar(&c.ProduceTimeout, "produce-timeout", 10*time.Second, "how long a request waits for Kafka to acknowledge its events before answering 503")
	fs.DurationVar(&c.RetryAfter, "retry-after", time.Second, "Retry-After of 503 answers (rounded up to whole seconds)")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", 60*time.Second, "time to read a whole request, headers and body")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 30*time.Second, "how long shutdown waits for requests in flight")
	fs.DurationVar(&c.MaxAge, "max-event-age", schemas.DefaultMaxAge, "oldest event_time accepted; older events are refused (400)")
	c.Limits.register(fs)
}

// Validate names the first bad field. It parses the tokens and the secrets,
// which config.Parse read; New reads --revoked-file.
func (c *Config) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if _, err := c.trusted(); err != nil {
		return err
	}
	switch {
	case c.Listen == "":
		return fmt.Errorf("--listen must not be empty")
	case c.Tokens.Value() == "" && c.Secrets.Value() == "":
		return fmt.Errorf("no credentials: give operator and relay tokens (--tokens-file or VEIL_TOKENS), installation credential secrets (--credential-secrets-file or VEIL_CREDENTIAL_SECRETS), or both")
	case c.RevokedFile != "" && c.Secrets.Value() == "":
		return fmt.Errorf("--revoked-file revokes installation credentials, which need --credential-secrets-file or VEIL_CREDENTIAL_SECRETS")
	case c.RevokedRecheck < 0:
		return fmt.Errorf("--revoked-recheck: must not be negative, got %s", c.RevokedRecheck)
	case c.CredentialTTL < time.Minute:
		return fmt.Errorf("--credential-ttl: at least 1m, got %s", c.CredentialTTL)
	case c.MaxBody <= 0:
		return fmt.Errorf("--max-body: must be positive, got %d", c.MaxBody)
	case c.MaxDecompressed <= 0:
		return fmt.Errorf("--max-decompressed: must be positive, got %d", c.MaxDecompressed)
	case c.MaxEvents <= 0:
		return fmt.Errorf("--max-events: must be positive, got %d", c.MaxEvents)
	case c.MaxInflight < c.MaxBody+c.MaxDecompressed:
		return fmt.Errorf("--max-inflight: %d is less than --max-body + --max-decompressed (%d); a large gzip request could never fit", c.MaxInflight, c.MaxBody+c.MaxDecompressed)
	case c.MaxRecordBytes < 1024:
		return fmt.Errorf("--max-record-bytes: at least 1KiB, got %d", c.MaxRecordBytes)
	case c.ProduceTimeout <= 0:
		return fmt.Errorf("--produce-timeout: must be positive, got %s", c.ProduceTimeout)
	case c.RetryAfter <= 0:
		return fmt.Errorf("--retry-after: must be positive, got %s", c.RetryAfter)
	case c.ReadTimeout <= 0:
		return fmt.Errorf("--read-timeout: must be positive, got %s", c.ReadTimeout)
	case c.DrainTimeout <= 0:
		return fmt.Errorf("--drain-timeout: must be positive, got %s", c.DrainTimeout)
	case c.MaxAge < time.Hour:
		return fmt.Errorf("--max-event-age: at least 1h, got %s", c.MaxAge)
	}
	if _, _, err := c.credentials(); err != nil {
		return err
	}
	return c.Limits.validate()
}

func (c *Config) trusted() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("--trusted-proxies: %q is neither a CIDR nor an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// credentials parses the operator and relay tokens and the secrets of
// installation credentials; either may be nil when not configured, not both.
func (c *Config) credentials() (*credential.Tokens, *credential.Keys, error) {
	var tokens *credential.Tokens
	var keys *credential.Keys
	var err error
	if v := c.Tokens.Value(); v != "" {
		if tokens, err = credential.ParseTokens(v, source(&c.Tokens, "tokens-file")); err != nil {
			return nil, nil, err
		}
	}
	if v := c.Secrets.Value(); v != "" {
		if keys, err = credential.ParseKeys(v, source(&c.Secrets, "credential-secrets-file")); err != nil {
			return nil, nil, err
		}
	}
	if tokens.Len() == 0 && keys == nil {
		return nil, nil, fmt.Errorf("%s: no name:role:token entry, and no installation credential secrets", source(&c.Tokens, "tokens-file"))
	}
	return tokens, keys, nil
}

// source names where a secret came from, for errors: its file or its variable.
func source(s *config.Secret, flagName string) string {
	if s.File() != "" {
		return "--" + flagName + " " + s.File()
	}
	return s.Env
}

// Bytes is a size flag: a number of bytes with an optional suffix (KiB, MiB, GiB,
// or KB, MB, GB for powers of ten).
type Bytes int64

func (b *Bytes) String() string {
	if b == nil {
		return "0"
	}
	v := int64(*b)
	for _, u := range []struct {
		s string
		n int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v != 0 && v%u.n == 0 {
			return strconv.FormatInt(v/u.n, 10) + u.s
		}
	}
	return strconv.FormatInt(v, 10)
}

// Set parses a size.
func (b *Bytes) Set(s string) error {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		s string
		n int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(s, u.s) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.s)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("not a size: %q (e.g. 4MiB, 65536)", s)
	}
	*b = Bytes(n * mult)
	return nil
}
