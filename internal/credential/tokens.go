package credential

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"
)

// Role is what a credential may do.
type Role string

// The roles. Operators and relays are configured tokens; installations hold
// installation credentials.
const (
	// Operator reads and sets every installation's consent and issues
	// installation credentials. It posts no events.
	Operator Role = "operator"
	// Relay is a trusted server that forwards the events of many installations
	// (a media server relaying its apps'): it posts events naming any
	// installation, and touches no consent.
	Relay Role = "relay"
	// Installation posts events naming its own installation only, and reads and
	// sets that installation's consent only.
	Installation Role = "installation"
)

// MinTokenLength is the shortest operator or relay token accepted.
const MinTokenLength = 16

// Tokens are the configured operator and relay tokens. Only their SHA-256
// digests are kept.
type Tokens struct {
	digests [][sha256.Size]byte
	roles   []Role
	names   []string
}

// ParseTokens reads name:role:token entries, one per line or separated by
// commas; blank lines and lines starting with '#' are skipped. The role is
// operator or relay. The name shows up in logs and metrics, the token never; two
// tokens may share a name (a relay's old and new token while it rotates). Names
// hold letters, digits and . _ - only, and "installation" is reserved: it stands
// for every installation credential in the collector's metrics. source names
// where the text came from in errors, which name an entry by its position and
// name, never by its token.
func ParseTokens(text, source string) (*Tokens, error) {
	t := &Tokens{}
	seen := map[[sha256.Size]byte]bool{}
	for i, e := range entries(text) {
		name, rest, ok := strings.Cut(e, ":")
		name = strings.TrimSpace(name)
		role, tok, ok2 := strings.Cut(rest, ":")
		role, tok = strings.TrimSpace(role), strings.TrimSpace(tok)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("%s: entry %d is not name:role:token", source, i+1)
		case !ok2:
			return nil, fmt.Errorf("%s: entry %d (%q) is not name:role:token: write %s:relay:<token> for a trusted relay, %s:operator:<token> for an operator", source, i+1, name, name, name)
		case !validName(name):
			return nil, fmt.Errorf("%s: entry %d: the name %q may hold only letters, digits and . _ -", source, i+1, name)
		case name == string(Installation):
			return nil, fmt.Errorf("%s: entry %d: the name %q is reserved for installation credentials", source, i+1, name)
		case Role(role) != Operator && Role(role) != Relay:
			// The role is not printed: in a mistyped entry it may be part of a token.
			return nil, fmt.Errorf("%s: entry %d (%q): the role is neither operator nor relay (installations get installation credentials)", source, i+1, name)
		case len(tok) < MinTokenLength:
			return nil, fmt.Errorf("%s: the token of %q (entry %d) is shorter than %d characters", source, name, i+1, MinTokenLength)
		case strings.ContainsAny(tok, " \t"):
			return nil, fmt.Errorf("%s: the token of %q (entry %d) contains white space", source, name, i+1)
		case IsInstallation(tok):
			return nil, fmt.Errorf("%s: the token of %q (entry %d) starts with %q, which marks installation credentials", source, name, i+1, Prefix)
		}
		d := sha256.Sum256([]byte(tok))
		if seen[d] {
			return nil, fmt.Errorf("%s: the token of %q (entry %d) is configured twice", source, name, i+1)
		}
		seen[d] = true
		t.digests = append(t.digests, d)
		t.roles = append(t.roles, Role(role))
		t.names = append(t.names, name)
	}
	return t, nil
}

// Len is the number of tokens.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.digests)
}

// Lookup returns the role and name of token. It compares the token's digest
// with every configured digest in constant time and never stops early, so
// neither the position of the first differing byte nor which entry matched
// shows in the time it takes.
func (t *Tokens) Lookup(token string) (Role, string, bool) {
	if t == nil {
		return "", "", false
	}
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.digests {
		if subtle.ConstantTimeCompare(d[:], t.digests[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", "", false
	}
	return t.roles[found], t.names[found], true
}

// entries splits a file's or a variable's text into entries: lines, and
// comma-separated parts of lines, without blanks and '#' comment lines.
func entries(text string) []string {
	var out []string
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for e := range strings.SplitSeq(line, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
