package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/credential"
)

// issue signs an installation credential with the tests' secrets (testKeys),
// issued at iat for ttl.
func issue(t testing.TB, installation string, iat time.Time, ttl time.Duration) string {
	t.Helper()
	return issueWith(t, testKeys, installation, iat, ttl)
}

func issueWith(t testing.TB, keys, installation string, iat time.Time, ttl time.Duration) string {
	t.Helper()
	k, err := credential.ParseKeys(keys, "test keys")
	if err != nil {
		t.Fatal(err)
	}
	is, err := k.Issue(installation, iat, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return is.Credential
}

// eventsOf makes n playback events that name installation.
func eventsOf(t testing.TB, installation string, n int, seed uint64) []map[string]any {
	t.Helper()
	recs := nativeEvents(t, n, seed)
	for _, r := range recs {
		r["installation_id"] = installation
	}
	return recs
}

// reply is an answer as a client sees it.
type reply struct {
	status int
	header http.Header
	body   string
	json   struct {
		Error    string       `json:"error"`
		Reason   string       `json:"reason"`
		Accepted int          `json:"accepted"`
		Rejected int          `json:"rejected"`
		Errors   []eventError `json:"errors"`
	}
}

// call sends one request with Authorization: Bearer token (none when token is
// empty) and a JSON body when body is set.
func call(t testing.TB, method, url, token string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", ContentTypeJSON)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.json); err != nil {
			t.Fatalf("%s %s answered %d with a body that is not JSON: %s", method, url, resp.StatusCode, b)
		}
	}
	return r
}

// replaceFile writes content to path atomically, as operators are told to
// replace the revocation list.
func replaceFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// mountConsentStub mounts GET and PUT /v1/consent/{installation} with the
// consent API's access rule, answering who called.
func mountConsentStub(ts *testServer) {
	who := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, name := Credential(r.Context())
		fmt.Fprintf(w, "%s %s %s", role, name, r.PathValue("installation"))
	})
	for _, p := range []string{"GET /v1/consent/{installation}", "PUT /v1/consent/{installation}"} {
		ts.HandleFor(p, who, Access{Roles: []credential.Role{credential.Operator}, Owner: "installation"})
	}
}

// A request without a valid credential gets 401 with a reason and
// WWW-Authenticate, on every authenticated endpoint, and nothing is produced.
func TestRefusedCredentialsGet401WithTheReason(t *testing.T) {
	now := time.Now()
	revoked := filepath.Join(t.TempDir(), "revoked")
	replaceFile(t, revoked, "srv-stolen\nsrv-reinstalled "+now.Add(-time.Hour).UTC().Format(time.RFC3339)+"\n")
	ts, p := fakeServer(t, "--revoked-file", revoked, "--revoked-recheck", "0s")
	mountConsentStub(ts)

	good := issue(t, "srv-1", now, time.Hour)
	parts := strings.Split(good, ".")
	other := strings.Split(issue(t, "srv-2", now, time.Hour), ".")
	for _, tc := range []struct {
		name, token, installation, reason string
	}{
		{"no credential", "", "srv-1", authMissing},
		{"an unknown token", strings.Repeat("x", len(tokenA)), "srv-1", authInvalid},
		{"a relay token without its last character", tokenA[:len(tokenA)-1], "srv-1", authInvalid},
		{"a relay's name instead of its token", "fleetA", "srv-1", authInvalid},
		{"an installation credential signed with another secret", issueWith(t, "k2:another-secret-0123456789-0123456789", "srv-1", now, time.Hour), "srv-1", authInvalid},
		{"an installation credential whose installation was changed", strings.Join(append([]string{parts[0], other[1]}, parts[2:]...), "."), "srv-2", authInvalid},
		{"an installation credential whose expiry was changed", strings.Join([]string{parts[0], parts[1], parts[2], parts[3], "99999999999", parts[5]}, "."), "srv-1", authInvalid},
		{"an installation credential that is cut short", good[:len(good)-2], "srv-1", authInvalid},
		{"an installation credential signed with a retired key", issueWith(t, "k0:retired-secret-of-the-tests-0123456789", "srv-1", now, time.Hour), "srv-1", authUnknownKey},
		{"an expired installation credential", issue(t, "srv-1", now.Add(-48*time.Hour), 24*time.Hour), "srv-1", authExpired},
		{"a credential of a revoked installation", issue(t, "srv-stolen", now, time.Hour), "srv-stolen", authRevoked},
		{"a credential issued before its installation's revocation time", issue(t, "srv-reinstalled", now.Add(-2*time.Hour), 24*time.Hour), "srv-reinstalled", authRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []struct {
				method, path string
				body         []byte
			}{
				{http.MethodPost, "/v1/events", jsonBatch(t, eventsOf(t, tc.installation, 2, 1))},
				{http.MethodGet, "/v1/consent/" + tc.installation, nil},
				{http.MethodPut, "/v1/consent/" + tc.installation, []byte(`{"opt_out":[]}`)},
				{http.MethodPost, "/v1/installations/" + tc.installation + "/credential", nil},
			} {
				r := call(t, req.method, ts.URL+req.path, tc.token, req.body)
				wantAuth := `Bearer realm="veil", error="invalid_token", error_description="` + tc.reason + `"`
				if tc.reason == authMissing {
					wantAuth = `Bearer realm="veil"`
				}
				if r.status != http.StatusUnauthorized || r.json.Reason != tc.reason || r.json.Error == "" || r.header.Get("WWW-Authenticate") != wantAuth {
					t.Errorf("%s %s = %d %s with WWW-Authenticate %q; want 401, reason %q and %q", req.method, req.path, r.status, r.body, r.header.Get("WWW-Authenticate"), tc.reason, wantAuth)
				}
				if tc.token != "" && strings.Contains(r.body, tc.token) {
					t.Errorf("%s %s: the answer shows the credential", req.method, req.path)
				}
			}
		})
	}
	if n := p.count(); n != 0 {
		t.Errorf("%d records produced by refused requests", n)
	}
	// The valid credential of the same installations passes.
	if a := post(t, ts.URL, good, ContentTypeJSON, "", jsonBatch(t, eventsOf(t, "srv-1", 2, 1))); a.Status != http.StatusAccepted {
		t.Errorf("the valid credential: %d %s, want 202", a.Status, a.Raw)
	}
	if a := post(t, ts.URL, issue(t, "srv-reinstalled", now, time.Hour), ContentTypeJSON, "", jsonBatch(t, eventsOf(t, "srv-reinstalled", 2, 1))); a.Status != http.StatusAccepted {
		t.Errorf("the credential issued after its installation's revocation time: %d %s, want 202", a.Status, a.Raw)
	}
	m := scrape(t, ts.URL)
	for _, want := range []string{`veil_collector_auth_refused_total{reason="missing"} 4`, `veil_collector_auth_refused_total{reason="invalid"} 28`,
		`veil_collector_auth_refused_total{reason="unknown_key"} 4`, `veil_collector_auth_refused_total{reason="expired"} 4`, `veil_collector_auth_refused_total{reason="revoked"} 8`,
		`veil_collector_requests_total{code="401",fleet=""} 48`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// Revoking takes effect on the next request once the revocation list is
// replaced, and lifting it too.
func TestRevocationsApplyOnceTheListIsReplaced(t *testing.T) {
	now := time.Now()
	revoked := filepath.Join(t.TempDir(), "revoked")
	replaceFile(t, revoked, "# nothing revoked\n")
	ts, _ := fakeServer(t, "--revoked-file", revoked, "--revoked-recheck", "0s")
	old := issue(t, "srv-1", now.Add(-time.Hour), 24*time.Hour)
	replacement := issue(t, "srv-1", now, 24*time.Hour)
	body := jsonBatch(t, eventsOf(t, "srv-1", 1, 1))
	status := func(tok string) string {
		a := post(t, ts.URL, tok, ContentTypeJSON, "", body)
		return fmt.Sprint(a.Status)
	}
	if got := status(old) + " " + status(replacement); got != "202 202" {
		t.Fatalf("before any revocation: %s, want 202 202", got)
	}
	replaceFile(t, revoked, "srv-1\n")
	if got := status(old) + " " + status(replacement); got != "401 401" {
		t.Errorf("srv-1 revoked: %s, want 401 401", got)
	}
	replaceFile(t, revoked, "srv-1 "+now.Add(-30*time.Minute).UTC().Format(time.RFC3339)+"\n")
	if got := status(old) + " " + status(replacement); got != "401 202" {
		t.Errorf("srv-1's credentials issued before half an hour ago revoked: %s, want 401 202", got)
	}
	replaceFile(t, revoked, "")
	if got := status(old) + " " + status(replacement); got != "202 202" {
		t.Errorf("revocation lifted: %s, want 202 202", got)
	}
}

// An installation credential posts its own installation's events; a batch
// naming another installation is refused whole with 403, listing the events
// that did. Relays post for any installation; operators post nothing.
func TestInstallationCredentialsPostOnlyTheirOwnEvents(t *testing.T) {
	ts, p := fakeServer(t)
	own := issue(t, "srv-own-1", time.Now(), time.Hour)

	if a := post(t, ts.URL, own, ContentTypeJSON, "", jsonBatch(t, eventsOf(t, "srv-own-1", 5, 1))); a.Status != http.StatusAccepted || a.Body.Accepted != 5 {
		t.Fatalf("own events as JSON: %d %s, want 202 with 5 accepted", a.Status, a.Raw)
	}
	var frames [][]byte
	for _, r := range eventsOf(t, "srv-own-1", 3, 2) {
		frames = append(frames, encodeRaw(t, r))
	}
	if a := post(t, ts.URL, own, ContentTypeAvro, "", avroBatch(frames...)); a.Status != http.StatusAccepted || a.Body.Accepted != 3 {
		t.Fatalf("own events as Avro: %d %s, want 202 with 3 accepted", a.Status, a.Raw)
	}
	for _, m := range p.msgs {
		if string(m.Key) != "srv-own-1" {
			t.Errorf("a record keyed %q, want srv-own-1", m.Key)
		}
	}
	produced := p.count()

	mixed := eventsOf(t, "srv-own-1", 4, 3)
	mixed[1]["installation_id"] = "srv-other"
	mixed[3]["installation_id"] = "srv-third"
	mixed[2]["media_type"] = "hologram" // invalid anyway: listed too
	r := call(t, http.MethodPost, ts.URL+"/v1/events", own, jsonBatch(t, mixed))
	if r.status != http.StatusForbidden || r.json.Reason != authOther || r.json.Accepted != 0 || r.json.Rejected != 3 || len(r.json.Errors) != 3 {
		t.Fatalf("a batch naming other installations: %d %s, want 403 other_installation listing 3 events", r.status, r.body)
	}
	for i, want := range []string{`installation_id "srv-other" is not the credential's installation`, "hologram", `installation_id "srv-third" is not the credential's installation`} {
		if e := r.json.Errors[i]; e.Index != i+1 || !strings.Contains(e.Error, want) || e.EventID != mixed[i+1]["event_id"] {
			t.Errorf("error %d: %+v, want event %d: %q", i, e, i+1, want)
		}
	}
	if !strings.Contains(r.json.Error, `installation "srv-own-1"`) || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("403 says %q with WWW-Authenticate %q; want the credential's installation named, insufficient_scope", r.json.Error, r.header.Get("WWW-Authenticate"))
	}
	if a := post(t, ts.URL, own, ContentTypeAvro, "", avroBatch(encodeRaw(t, eventsOf(t, "srv-other", 1, 4)[0]))); a.Status != http.StatusForbidden {
		t.Errorf("another installation's Avro event: %d %s, want 403", a.Status, a.Raw)
	}
	if n := p.count(); n != produced {
		t.Errorf("refused batches produced %d records", n-produced)
	}

	// A relay relays many installations.
	many := nativeEvents(t, 40, 5)
	installations := map[any]bool{}
	for _, r := range many {
		installations[r["installation_id"]] = true
	}
	if a := post(t, ts.URL, tokenA, ContentTypeJSON, "", jsonBatch(t, many)); a.Status != http.StatusAccepted || a.Body.Accepted != 40 || len(installations) < 10 {
		t.Errorf("a relay's batch of %d installations: %d %s, want 202 with 40 accepted", len(installations), a.Status, a.Raw)
	}
	// An operator is not a relay.
	r = call(t, http.MethodPost, ts.URL+"/v1/events", tokenOps, jsonBatch(t, many))
	if r.status != http.StatusForbidden || r.json.Reason != authWrongRole || !strings.Contains(r.json.Error, "allowed: relay, installation") {
		t.Errorf("an operator posting events: %d %s, want 403 wrong_role", r.status, r.body)
	}

	m := scrape(t, ts.URL)
	for _, want := range []string{`veil_collector_events_accepted_total{fleet="installation"} 8`, `veil_collector_events_accepted_total{fleet="fleetA"} 40`,
		`veil_collector_events_rejected_total{reason="forbidden"} 3`, `veil_collector_auth_refused_total{reason="other_installation"} 2`,
		`veil_collector_auth_refused_total{reason="wrong_role"} 1`, `veil_collector_requests_total{code="403",fleet="installation"} 2`, `veil_collector_requests_total{code="403",fleet="ops"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(m, "srv-own-1") {
		t.Error("/metrics shows an installation id")
	}
}

// The consent endpoints take the installation's own credential or an operator's;
// relays and other installations get 403.
func TestConsentNeedsTheInstallationsCredentialOrAnOperators(t *testing.T) {
	ts, _ := fakeServer(t)
	mountConsentStub(ts)
	own := issue(t, "srv-1", time.Now(), time.Hour)
	for _, tc := range []struct {
		name, token, installation string
		status                    int
		want                      string // body, or the reason of a 403
	}{
		{"an installation, its own", own, "srv-1", http.StatusOK, "installation srv-1 srv-1"},
		{"an installation, another's", own, "srv-2", http.StatusForbidden, authOther},
		{"an installation, an id that only starts like its own", own, "srv-10", http.StatusForbidden, authOther},
		{"an operator, any installation", tokenOps, "srv-2", http.StatusOK, "operator ops srv-2"},
		{"a relay", tokenA, "srv-1", http.StatusForbidden, authWrongRole},
	} {
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			var body []byte
			if method == http.MethodPut {
				body = []byte(`{"opt_out":[]}`)
			}
			r := call(t, method, ts.URL+"/v1/consent/"+tc.installation, tc.token, body)
			got := r.body
			if r.status == http.StatusForbidden {
				got = r.json.Reason
			}
			if r.status != tc.status || got != tc.want {
				t.Errorf("%s: %s = %d %s, want %d %s", tc.name, method, r.status, r.body, tc.status, tc.want)
			}
		}
	}
}

// Operators get installation credentials from the collector; nobody else does.
func TestOperatorsIssueInstallationCredentials(t *testing.T) {
	ts, p := fakeServer(t, "--credential-ttl", "2h")
	url := ts.URL + "/v1/installations/srv-new/credential"
	r := call(t, http.MethodPost, url, tokenOps, nil)
	var is credential.Issued
	if err := json.Unmarshal([]byte(r.body), &is); r.status != http.StatusOK || err != nil {
		t.Fatalf("operator: %d %s, want 200 with a credential", r.status, r.body)
	}
	if is.Installation != "srv-new" || is.KeyID != "k2" || is.ExpiresAt.Sub(is.IssuedAt) != 2*time.Hour || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("issued %+v with Cache-Control %q; want srv-new's, signed with k2, for --credential-ttl 2h, no-store", is.Claims, r.header.Get("Cache-Control"))
	}
	if a := post(t, ts.URL, is.Credential, ContentTypeJSON, "", jsonBatch(t, eventsOf(t, "srv-new", 2, 1))); a.Status != http.StatusAccepted || p.count() != 2 {
		t.Errorf("the issued credential posting its events: %d %s, want 202", a.Status, a.Raw)
	}
	for name, tok := range map[string]string{"a relay": tokenA, "an installation, for itself": is.Credential} {
		if r := call(t, http.MethodPost, url, tok, nil); r.status != http.StatusForbidden || r.json.Reason != authWrongRole {
			t.Errorf("%s: %d %s, want 403 wrong_role", name, r.status, r.body)
		}
	}
	if r := call(t, http.MethodPost, ts.URL+"/v1/installations/-srv/credential", tokenOps, nil); r.status != http.StatusBadRequest || !strings.Contains(r.json.Error, "installation_id may hold only") {
		t.Errorf("an invalid installation id: %d %s, want 400 saying why", r.status, r.body)
	}

	off, _ := fakeServer(t, "--credential-secrets-file=")
	if r := call(t, http.MethodPost, off.URL+"/v1/installations/srv-new/credential", tokenOps, nil); r.status != http.StatusNotFound || !strings.Contains(r.json.Error, "--credential-secrets-file") {
		t.Errorf("a collector without secrets: %d %s, want 404 saying why", r.status, r.body)
	}
	if r := call(t, http.MethodPost, off.URL+"/v1/events", is.Credential, jsonBatch(t, eventsOf(t, "srv-new", 1, 1))); r.status != http.StatusUnauthorized || !strings.Contains(r.json.Error, "accepts no installation credentials") {
		t.Errorf("an installation credential at a collector without secrets: %d %s, want 401", r.status, r.body)
	}
}
