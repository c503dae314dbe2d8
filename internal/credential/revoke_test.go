package credential

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRevocationsRefuseAllOrThoseIssuedBefore(t *testing.T) {
	rev, err := ParseRevocations("srv-stolen\nsrv-reinstalled 2026-12-02T10:00:00Z\nsrv-reinstalled 2026-11-01T00:00:00Z\nsrv-both 2026-12-01T00:00:00Z\nsrv-both\n", "test")
	if err != nil {
		t.Fatal(err)
	}
	at := func(id string, iat time.Time) Claims { return Claims{Installation: id, IssuedAt: iat} }
	for _, tc := range []struct {
		name    string
		c       Claims
		revoked bool
	}{
		{"every credential of an installation listed alone", at("srv-stolen", issuedAt.Add(24*time.Hour)), true},
		{"a credential issued before the time", at("srv-reinstalled", issuedAt.Add(-time.Second)), true},
		{"a credential issued at the time (the replacement)", at("srv-reinstalled", issuedAt), false},
		{"a credential issued after the time", at("srv-reinstalled", issuedAt.Add(time.Hour)), false},
		{"the latest time of several counts", at("srv-reinstalled", issuedAt.Add(-24*time.Hour)), true},
		{"an installation listed alone and with a time: all", at("srv-both", issuedAt.Add(24*time.Hour)), true},
		{"an installation not listed", at("srv-other", issuedAt), false},
	} {
		err := rev.Check(tc.c)
		if (err != nil) != tc.revoked || (err != nil && !errors.Is(err, ErrRevoked)) {
			t.Errorf("%s: %v, want revoked %v", tc.name, err, tc.revoked)
		}
	}
	if rev.Len() != 3 {
		t.Errorf("Len = %d, want 3", rev.Len())
	}
	var none *Revocations
	if none.Check(at("srv-stolen", issuedAt)) != nil || none.Len() != 0 {
		t.Error("no list revoked something")
	}
}

// The file is read again when it is replaced; a replacement that does not parse,
// or a file that disappears, leaves the last list in force.
func TestRevocationFileFollowsItsReplacements(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "revoked")
	replace := func(content string) {
		t.Helper()
		tmp := filepath.Join(dir, "revoked.new")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := OpenRevocationFile(path, 0, nil); err == nil || !strings.Contains(err.Error(), "revocation list") {
		t.Errorf("a missing file: %v, want an error", err)
	}
	replace("# nothing revoked yet\n")
	var logged strings.Builder
	f, err := OpenRevocationFile(path, 0, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c := Claims{Installation: "srv-1", IssuedAt: issuedAt}
	now := issuedAt
	revoked := func() bool { now = now.Add(time.Millisecond); return f.Current(now).Check(c) != nil }
	if revoked() {
		t.Fatal("revoked before the list names it")
	}
	replace("srv-1\n")
	if !revoked() {
		t.Error("the replaced list naming srv-1 is not in force")
	}
	replace("srv-1\nnot an id at all\n")
	if !revoked() || !strings.Contains(logged.String(), "does not parse") {
		t.Errorf("a list that does not parse lifted the revocation, or was not logged: %s", logged.String())
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if !revoked() || !strings.Contains(logged.String(), "unreadable") {
		t.Errorf("a removed list lifted the revocation, or was not logged: %s", logged.String())
	}
	replace("srv-2\n")
	if revoked() {
		t.Error("the list put back without srv-1 still revokes it")
	}
}

// With a recheck period the file is looked at again only once it passed.
func TestRevocationFileIsLookedAtOncePerRecheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "revoked")
	os.WriteFile(path, []byte("srv-0\n"), 0o600)
	f, err := OpenRevocationFile(path, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := Claims{Installation: "srv-1", IssuedAt: issuedAt}
	if f.Current(issuedAt).Check(c) != nil {
		t.Fatal("srv-1 revoked by a list that does not name it")
	}
	os.WriteFile(path, []byte("srv-0\nsrv-1\n"), 0o600)
	if f.Current(issuedAt.Add(59*time.Second)).Check(c) != nil {
		t.Error("the file was read again before the recheck period passed")
	}
	if f.Current(issuedAt.Add(61*time.Second)).Check(c) == nil {
		t.Error("the file was not read again once the recheck period passed")
	}
}
