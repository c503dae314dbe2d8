package collector

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// tokens checks bearer tokens. It keeps only SHA-256 digests and compares every
// digest in constant time, so neither the position of the first differing byte
// nor the length of a configured token shows in the response time.
type tokens struct {
	digests [][sha256.Size]byte
	fleets  []string
}

func newTokens(byToken map[string]string) *tokens {
	t := &tokens{}
	for tok, fleet := range byToken {
		t.digests = append(t.digests, sha256.Sum256([]byte(tok)))
		t.fleets = append(t.fleets, fleet)
	}
	return t
}

// fleet returns the fleet name of the token, or false.
func (t *tokens) fleet(token string) (string, bool) {
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.digests {
		if subtle.ConstantTimeCompare(d[:], t.digests[i][:]) == 1 {
			found = i // no early exit: every digest is compared
		}
	}
	if found < 0 {
		return "", false
	}
	return t.fleets[found], true
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

type fleetKey struct{}

// Fleet returns the name of the fleet whose token authenticated the request, or ""
// for an endpoint mounted without authentication.
func Fleet(ctx context.Context) string {
	f, _ := ctx.Value(fleetKey{}).(string)
	return f
}

// authenticate wraps h so that it runs only with a valid bearer token; otherwise
// it answers 401 with WWW-Authenticate: Bearer.
func (s *Server) authenticate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		fleet := ""
		if ok {
			fleet, ok = s.tokens.fleet(tok)
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="veil"`)
			writeJSON(w, http.StatusUnauthorized, response{Error: "missing or invalid bearer token"})
			return
		}
		if info := infoOf(r.Context()); info != nil {
			info.fleet = fleet
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), fleetKey{}, fleet)))
	})
}
