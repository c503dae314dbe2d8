package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/veiltelemetry/veil/internal/credential"
	"github.com/veiltelemetry/veil/schemas"
)

// Why a request was refused: the "reason" of a 401 or 403 answer, and the label
// of veil_collector_auth_refused_total.
const (
	authMissing    = "missing"     // 401: no bearer token
	authInvalid    = "invalid"     // 401: unknown token, malformed credential, bad signature
	authUnknownKey = "unknown_key" // 401: an installation credential signed with a key not (or no longer) listed
	authExpired    = "expired"     // 401
	authRevoked    = "revoked"     // 401: --revoked-file names it
	authWrongRole  = "wrong_role"  // 403: a valid credential whose role may not use the endpoint
	authOther      = "other_installation"
)

var authReasons = []string{authMissing, authInvalid, authUnknownKey, authExpired, authRevoked, authWrongRole, authOther}

// installationLabel is the fleet label of every installation credential, so that
// an installation id never becomes a label value.
const installationLabel = string(credential.Installation)

// authenticator checks bearer tokens: the operator and relay tokens of
// --tokens-file, and installation credentials signed with the secrets of
// --credential-secrets-file.
type authenticator struct {
	tokens  *credential.Tokens         // nil: none
	keys    *credential.Keys           // nil: installation credentials are off
	revoked *credential.RevocationFile // nil: none revoked
}

func newAuthenticator(cfg Config, log *slog.Logger) (*authenticator, error) {
	tokens, keys, err := cfg.credentials()
	if err != nil {
		return nil, err
	}
	a := &authenticator{tokens: tokens, keys: keys}
	if cfg.RevokedFile != "" {
		if a.revoked, err = credential.OpenRevocationFile(cfg.RevokedFile, cfg.RevokedRecheck, log); err != nil {
			return nil, fmt.Errorf("--revoked-file: %w", err)
		}
	}
	return a, nil
}

// principal is who a request authenticated as.
type principal struct {
	role credential.Role
	name string // the token's configured name; an installation credential's installation id
}

// refusal is a 401 or a 403.
type refusal struct {
	status int
	reason string
	msg    string
}

// check returns who tok belongs to at now, or why it is refused (401).
func (a *authenticator) check(tok string, now time.Time) (principal, *refusal) {
	if !credential.IsInstallation(tok) {
		role, name, ok := a.tokens.Lookup(tok)
		if !ok {
			return principal{}, &refusal{http.StatusUnauthorized, authInvalid, "unknown bearer token"}
		}
		return principal{role: role, name: name}, nil
	}
	if a.keys == nil {
		return principal{}, &refusal{http.StatusUnauthorized, authInvalid, "this collector accepts no installation credentials"}
	}
	c, err := a.keys.Verify(tok, now)
	switch {
	case errors.Is(err, credential.ErrUnknownKey):
		return principal{}, &refusal{http.StatusUnauthorized, authUnknownKey, "the installation credential is signed with a key this collector does not hold (retired, or not yet deployed here); get a new credential"}
	case errors.Is(err, credential.ErrExpired):
		return principal{}, &refusal{http.StatusUnauthorized, authExpired, "the installation credential expired at " + c.ExpiresAt.Format(time.RFC3339) + "; get a new credential"}
	case err != nil:
		return principal{}, &refusal{http.StatusUnauthorized, authInvalid, "invalid installation credential: " + err.Error()}
	}
	if a.revoked != nil {
		if err := a.revoked.Current(now).Check(c); err != nil {
			return principal{}, &refusal{http.StatusUnauthorized, authRevoked, "the installation credential is revoked; get a new credential"}
		}
	}
	return principal{role: credential.Installation, name: c.Installation}, nil
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

type principalKey struct{}

// Credential returns the role of the credential that authenticated the request
// and its stable name: the configured name of an operator or relay token
// (tokens that share a name share it), the installation id of an installation
// credential. It is ("", "") on an endpoint mounted without authentication. It
// never holds a secret; rate limits and logs key by it.
func Credential(ctx context.Context) (role credential.Role, name string) {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p.role, p.name
}

// Fleet returns the fleet label of the request's credential in metrics and logs:
// the name of an operator or relay token, "installation" for every installation
// credential (an installation id is never a label), "" on an endpoint mounted
// without authentication.
func Fleet(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(principal)
	if p.role == credential.Installation {
		return installationLabel
	}
	return p.name
}

// authenticate wraps h so that it runs only with a valid credential; otherwise
// it answers 401 with WWW-Authenticate: Bearer and the reason.
func (s *Server) authenticate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		var p principal
		ref := &refusal{http.StatusUnauthorized, authMissing, "missing bearer token: send Authorization: Bearer <token>"}
		if ok {
			p, ref = s.auth.check(tok, s.now())
		}
		if ref != nil {
			s.refuse(w, ref)
			return
		}
		ctx := context.WithValue(r.Context(), principalKey{}, p)
		if info := infoOf(r.Context()); info != nil {
			info.fleet = Fleet(ctx)
		}
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Access says which credentials may use an endpoint.
type Access struct {
	// Roles may use the endpoint whatever it names.
	Roles []credential.Role
	// Owner, when set, is the path wildcard naming an installation
	// ("installation" in /v1/consent/{installation}): that installation's own
	// credential may use the endpoint too.
	Owner string
}

// HandleFor mounts h on pattern for the credentials a allows: a request without
// a valid credential gets 401, one whose credential a does not allow 403, both
// with the reason. Credential(ctx) tells h who the caller is.
func (s *Server) HandleFor(pattern string, h http.Handler, a Access) {
	s.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, name := Credential(r.Context())
		switch {
		case slices.Contains(a.Roles, role):
		case a.Owner != "" && role == credential.Installation:
			if id := r.PathValue(a.Owner); id != name {
				s.refuse(w, &refusal{http.StatusForbidden, authOther, fmt.Sprintf("this credential belongs to installation %q; it may not reach installation %q", name, truncate(id, schemas.MaxID))})
				return
			}
		default:
			s.refuse(w, &refusal{http.StatusForbidden, authWrongRole, fmt.Sprintf("a credential of role %s may not use %s %s (allowed: %s)", role, r.Method, r.URL.Path, a.allowed())})
			return
		}
		h.ServeHTTP(w, r)
	}), true)
}

func (a Access) allowed() string {
	var out []string
	for _, r := range a.Roles {
		out = append(out, string(r))
	}
	if a.Owner != "" {
		out = append(out, "the installation's own credential")
	}
	return strings.Join(out, ", ")
}

// errorBody is the JSON of a 401 or 403, and of the other answers of endpoints
// that are not /v1/events.
type errorBody struct {
	Error  string `json:"error"`
	Reason string `json:"reason,omitempty"`
}

// refuse answers a 401 or 403 and counts it.
func (s *Server) refuse(w http.ResponseWriter, ref *refusal) {
	s.m.authRefused.WithLabelValues(ref.reason).Inc()
	switch {
	case ref.reason == authMissing:
		w.Header().Set("WWW-Authenticate", `Bearer realm="veil"`)
	case ref.status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="veil", error="invalid_token", error_description="`+ref.reason+`"`)
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="veil", error="insufficient_scope", error_description="`+ref.reason+`"`)
	}
	writeJSON(w, ref.status, errorBody{Error: ref.msg, Reason: ref.reason})
}

// ownEvents makes sure an installation credential posts only events naming its
// installation. When an event names another, it answers 403 for the whole batch,
// listing those events and any invalid ones, and returns false: nothing is
// produced. Relays may name any installation.
func (s *Server) ownEvents(w http.ResponseWriter, r *http.Request, events []event) bool {
	role, inst := Credential(r.Context())
	if role != credential.Installation {
		return true
	}
	foreign := 0
	for i := range events {
		ev := &events[i]
		if ev.err != nil {
			continue
		}
		if id, _ := ev.rec["installation_id"].(string); id != inst {
			ev.reject(reasonForbidden, fmt.Errorf("installation_id %q is not the credential's installation", truncate(id, schemas.MaxID)))
			foreign++
		}
	}
	if foreign == 0 {
		return true
	}
	s.m.authRefused.WithLabelValues(authOther).Inc()
	resp := struct {
		response
		Reason string `json:"reason"`
	}{response: response{Error: fmt.Sprintf("this credential belongs to installation %q and may post only its events; %s another installation; nothing of the batch was accepted", inst, plural(foreign, "event names", "events name"))}, Reason: authOther}
	for i := range events {
		if ev := &events[i]; ev.err != nil {
			resp.Rejected++
			s.m.rejected.WithLabelValues(ev.reason).Inc()
			resp.Errors = append(resp.Errors, eventError{Index: i, EventID: truncate(ev.clientID, schemas.MaxID), Error: ev.err.Error()})
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="veil", error="insufficient_scope", error_description="`+authOther+`"`)
	writeJSON(w, http.StatusForbidden, resp)
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
