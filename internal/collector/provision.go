package collector

import (
	"net/http"
)

// issueCredential serves POST /v1/installations/{installation}/credential to
// operators: it signs a credential bound to the installation with the first
// secret of --credential-secrets-file, valid for --credential-ttl from now, and
// answers 200 with credential.Issued. The request body is not read. The
// collector keeps no record of what it issued: every collector holding the
// secrets verifies it, and --revoked-file revokes it.
func (s *Server) issueCredential(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.auth.keys == nil {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "this collector issues no installation credentials: it has no --credential-secrets-file (or VEIL_CREDENTIAL_SECRETS)"})
		return
	}
	is, err := s.auth.keys.Issue(r.PathValue("installation"), s.now(), s.cfg.CredentialTTL)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
		return
	}
	_, operator := Credential(r.Context())
	s.log.Info("installation credential issued", "operator", operator, "key", is.KeyID, "expires", is.ExpiresAt)
	writeJSON(w, http.StatusOK, is)
}
