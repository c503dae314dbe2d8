package credential

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

// Prefix starts every installation credential: the format and its version.
const Prefix = "vi1."

// MinSecretLength is the shortest server secret accepted, in bytes.
const MinSecretLength = 32

// Why a credential is refused. Verify returns them wrapped; check with errors.Is.
var (
	ErrMalformed  = errors.New("not a well-formed installation credential")
	ErrUnknownKey = errors.New("signed with a key this collector does not hold")
	ErrSignature  = errors.New("signature does not verify")
	ErrExpired    = errors.New("expired")
	ErrRevoked    = errors.New("revoked")
)

// Keys are the server secrets installation credentials are signed with: the
// first signs, every one verifies.
type Keys struct {
	ids     []string
	secrets map[string][]byte
}

// ParseKeys reads key-id:secret entries, one per line or separated by commas;
// blank lines and lines starting with '#' are skipped. Key ids hold letters,
// digits, _ and - (at most 32); a secret is at least MinSecretLength bytes
// without white space or commas, used as it is written (e.g. the output of
// `openssl rand -base64 48`). source names where the text came from in errors,
// which never show a secret.
func ParseKeys(text, source string) (*Keys, error) {
	k := &Keys{secrets: map[string][]byte{}}
	seen := map[string]bool{}
	for i, e := range entries(text) {
		id, secret, ok := strings.Cut(e, ":")
		id, secret = strings.TrimSpace(id), strings.TrimSpace(secret)
		switch {
		case !ok || id == "":
			return nil, fmt.Errorf("%s: entry %d is not key-id:secret", source, i+1)
		case !validKeyID(id):
			return nil, fmt.Errorf("%s: entry %d: the key id %q may hold only letters, digits, _ and - (at most 32)", source, i+1, id)
		case k.secrets[id] != nil:
			return nil, fmt.Errorf("%s: the key id %q is listed twice", source, id)
		case len(secret) < MinSecretLength:
			return nil, fmt.Errorf("%s: the secret of key %q is shorter than %d bytes", source, id, MinSecretLength)
		case strings.ContainsAny(secret, " \t"):
			return nil, fmt.Errorf("%s: the secret of key %q contains white space", source, id)
		case seen[secret]:
			return nil, fmt.Errorf("%s: the secret of key %q is also another key's", source, id)
		}
		seen[secret] = true
		k.ids = append(k.ids, id)
		k.secrets[id] = []byte(secret)
	}
	if len(k.ids) == 0 {
		return nil, fmt.Errorf("%s: no key-id:secret entry", source)
	}
	return k, nil
}

// Signing is the id of the key new credentials are signed with: the first.
func (k *Keys) Signing() string { return k.ids[0] }

// Claims are what an installation credential says.
type Claims struct {
	Installation string    `json:"installation_id"`
	KeyID        string    `json:"key_id"`
	IssuedAt     time.Time `json:"issued_at"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// Issued is a new credential and what it says: the answer of
// POST /v1/installations/{installation}/credential and of
// `producer credential issue --format json`.
type Issued struct {
	Credential string `json:"credential"`
	Claims
}

// Issue signs a credential for installation with the signing key, valid from
// now (to the second) for ttl. The installation id must be one POST /v1/events
// accepts (schemas.CheckInstallationID).
func (k *Keys) Issue(installation string, now time.Time, ttl time.Duration) (Issued, error) {
	if err := checkID(installation); err != nil {
		return Issued{}, err
	}
	if ttl < time.Second {
		return Issued{}, fmt.Errorf("credential: a lifetime of at least 1s is required, got %s", ttl)
	}
	iat := now.Unix()
	exp := now.Add(ttl).Unix()
	id := k.Signing()
	body := Prefix + b64.EncodeToString([]byte(installation)) + "." + id + "." + strconv.FormatInt(iat, 10) + "." + strconv.FormatInt(exp, 10)
	return Issued{
		Credential: body + "." + b64.EncodeToString(mac(k.secrets[id], body)),
		Claims:     Claims{Installation: installation, KeyID: id, IssuedAt: time.Unix(iat, 0).UTC(), ExpiresAt: time.Unix(exp, 0).UTC()},
	}, nil
}

// IsInstallation reports whether token is in the format of an installation
// credential (not whether it verifies).
func IsInstallation(token string) bool { return strings.HasPrefix(token, Prefix) }

// Verify checks an installation credential at time now: its format, that its key
// is listed, its MAC (in constant time) and then its expiry. It does not look at
// revocations (Revocations.Check). The error wraps ErrMalformed, ErrUnknownKey,
// ErrSignature or ErrExpired and never holds the credential.
func (k *Keys) Verify(token string, now time.Time) (Claims, error) {
	var parts [6]string
	rest := token
	for i := range parts {
		if i == len(parts)-1 {
			parts[i] = rest
			break
		}
		var ok bool
		if parts[i], rest, ok = strings.Cut(rest, "."); !ok {
			return Claims{}, ErrMalformed
		}
	}
	if parts[0]+"." != Prefix || strings.Contains(parts[5], ".") {
		return Claims{}, ErrMalformed
	}
	secret, ok := k.secrets[parts[2]]
	if !ok {
		if !validKeyID(parts[2]) {
			return Claims{}, ErrMalformed
		}
		return Claims{}, fmt.Errorf("%w (key id %q: retired, or not yet deployed here)", ErrUnknownKey, parts[2])
	}
	got, err := b64.DecodeString(parts[5])
	if err != nil || len(got) != sha256.Size {
		return Claims{}, ErrMalformed
	}
	if !hmac.Equal(got, mac(secret, token[:len(token)-len(parts[5])-1])) {
		return Claims{}, ErrSignature
	}
	// Signed by us: what follows can only fail for a credential we issued wrong.
	inst, err := b64.DecodeString(parts[1])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	iat, err1 := strconv.ParseInt(parts[3], 10, 64)
	exp, err2 := strconv.ParseInt(parts[4], 10, 64)
	if err1 != nil || err2 != nil {
		return Claims{}, ErrMalformed
	}
	c := Claims{Installation: string(inst), KeyID: parts[2], IssuedAt: time.Unix(iat, 0).UTC(), ExpiresAt: time.Unix(exp, 0).UTC()}
	if !now.Before(c.ExpiresAt) {
		return c, fmt.Errorf("%w at %s", ErrExpired, c.ExpiresAt.Format(time.RFC3339))
	}
	return c, nil
}

var b64 = base64.RawURLEncoding.Strict()

// checkID checks an installation id as POST /v1/events does, and says what is
// wrong in words about ids rather than events.
func checkID(id string) error {
	if err := schemas.CheckInstallationID(id); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), schemas.ErrInvalid.Error()+": "))
	}
	return nil
}

func mac(secret []byte, body string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(body))
	return h.Sum(nil)
}

func validKeyID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
