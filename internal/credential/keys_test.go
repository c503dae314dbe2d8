package credential

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	secret1 = "first-key-secret-0123456789abcdefghijk"
	secret2 = "second-key-secret-0123456789abcdefghij"
)

func mustKeys(t *testing.T, text string) *Keys {
	t.Helper()
	k, err := ParseKeys(text, "test")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var issuedAt = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func TestIssuedCredentialsVerifyAndSayWhatTheyAreFor(t *testing.T) {
	keys := mustKeys(t, "k2:"+secret2+"\nk1:"+secret1)
	is, err := keys.Issue("srv-7c1d2e4f9a", issuedAt.Add(300*time.Millisecond), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{Installation: "srv-7c1d2e4f9a", KeyID: "k2", IssuedAt: issuedAt, ExpiresAt: issuedAt.Add(24 * time.Hour)}
	if is.Claims != want {
		t.Errorf("Issue says %+v, want %+v", is.Claims, want)
	}
	parts := strings.Split(is.Credential, ".")
	if len(parts) != 6 || parts[0] != "vi1" || parts[2] != "k2" || parts[3] != strconv.FormatInt(issuedAt.Unix(), 10) || len(parts[5]) != 43 {
		t.Errorf("credential %q is not vi1.<id>.k2.<iat>.<exp>.<43 characters of MAC>", is.Credential)
	}
	if !IsInstallation(is.Credential) {
		t.Error("IsInstallation is false for an issued credential")
	}
	got, err := keys.Verify(is.Credential, issuedAt.Add(23*time.Hour))
	if err != nil || got != want {
		t.Errorf("Verify = %+v, %v; want %+v", got, err, want)
	}
	// Ids with dots and colons, which the format must not confuse with its own.
	for _, id := range []string{"a", "app:android.42", strings.Repeat("x", 128)} {
		is, err := keys.Issue(id, issuedAt, time.Hour)
		if err != nil {
			t.Fatalf("Issue(%q): %v", id, err)
		}
		if c, err := keys.Verify(is.Credential, issuedAt); err != nil || c.Installation != id {
			t.Errorf("Verify of %q's credential = %+v, %v", id, c, err)
		}
	}
}

func TestIssueRefusesBadInstallationIdsAndLifetimes(t *testing.T) {
	keys := mustKeys(t, "k1:"+secret1)
	for _, id := range []string{"", "srv 1", "-srv", "srv/1", strings.Repeat("x", 129)} {
		if _, err := keys.Issue(id, issuedAt, time.Hour); err == nil || strings.Contains(err.Error(), "invalid event") {
			t.Errorf("Issue(%q) = %v, want an error about the installation id", id, err)
		}
	}
	if _, err := keys.Issue("srv-1", issuedAt, 0); err == nil {
		t.Error("Issue with no lifetime succeeded")
	}
}

// Rotation: the first key signs, every listed key verifies, and removing a key
// refuses what it signed.
func TestSecretsRotate(t *testing.T) {
	old := mustKeys(t, "k1:"+secret1)
	during := mustKeys(t, "k1:"+secret1+"\nk2:"+secret2) // k2 deployed, k1 still signs
	after := mustKeys(t, "k2:"+secret2+"\nk1:"+secret1)  // k2 signs
	done := mustKeys(t, "k2:"+secret2)                   // k1 retired

	signedOld, _ := old.Issue("srv-1", issuedAt, 48*time.Hour)
	signedDuring, _ := during.Issue("srv-1", issuedAt, 48*time.Hour)
	signedAfter, _ := after.Issue("srv-1", issuedAt, 48*time.Hour)
	if signedDuring.KeyID != "k1" || signedAfter.KeyID != "k2" {
		t.Fatalf("signed with %s and %s, want k1 while k2 is second, then k2", signedDuring.KeyID, signedAfter.KeyID)
	}
	for _, tc := range []struct {
		name string
		keys *Keys
		tok  string
		want error
	}{
		{"k1's credential while k2 is deployed", during, signedOld.Credential, nil},
		{"k2's credential on a collector that lists k2 second", during, signedAfter.Credential, nil},
		{"k1's credential once k2 signs", after, signedOld.Credential, nil},
		{"k2's credential on a collector without k2 yet", old, signedAfter.Credential, ErrUnknownKey},
		{"k1's credential once k1 is retired", done, signedOld.Credential, ErrUnknownKey},
		{"k2's credential once k1 is retired", done, signedAfter.Credential, nil},
	} {
		_, err := tc.keys.Verify(tc.tok, issuedAt.Add(time.Hour))
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestForgedAltereredAndExpiredCredentialsAreRefused(t *testing.T) {
	keys := mustKeys(t, "k1:"+secret1)
	is, _ := keys.Issue("srv-1", issuedAt, time.Hour)
	other, _ := keys.Issue("srv-2", issuedAt, time.Hour)
	p := strings.Split(is.Credential, ".")
	po := strings.Split(other.Credential, ".")
	join := func(parts ...string) string { return strings.Join(parts, ".") }
	otherSecret := mustKeys(t, "k1:"+secret2)
	forged, _ := otherSecret.Issue("srv-1", issuedAt, time.Hour)

	for _, tc := range []struct {
		name, tok string
		at        time.Time
		want      error
	}{
		{"a valid one", is.Credential, issuedAt, nil},
		{"one second before it expires", is.Credential, issuedAt.Add(time.Hour - time.Second), nil},
		{"when it expires", is.Credential, issuedAt.Add(time.Hour), ErrExpired},
		{"after it expired", is.Credential, issuedAt.Add(48 * time.Hour), ErrExpired},
		{"signed with another secret under the same key id", forged.Credential, issuedAt, ErrSignature},
		{"another installation's id with this MAC", join(p[0], po[1], p[2], p[3], p[4], p[5]), issuedAt, ErrSignature},
		{"a later expiry", join(p[0], p[1], p[2], p[3], "99999999999", p[5]), issuedAt, ErrSignature},
		{"a later issue time", join(p[0], p[1], p[2], "1893456000", p[4], p[5]), issuedAt, ErrSignature},
		{"another installation's MAC", join(p[0], p[1], p[2], p[3], p[4], po[5]), issuedAt, ErrSignature},
		{"a MAC one character short", is.Credential[:len(is.Credential)-1], issuedAt, ErrMalformed},
		{"a MAC one character long", is.Credential + "A", issuedAt, ErrMalformed},
		{"a MAC that is not base64url", join(p[0], p[1], p[2], p[3], p[4], strings.Repeat("+", 43)), issuedAt, ErrMalformed},
		{"a seventh part", is.Credential + ".x", issuedAt, ErrMalformed},
		{"five parts", join(p[0], p[1], p[2], p[3], p[5]), issuedAt, ErrMalformed},
		{"another version", join("vi2", p[1], p[2], p[3], p[4], p[5]), issuedAt, ErrMalformed},
		{"an unknown key id", join(p[0], p[1], "k9", p[3], p[4], p[5]), issuedAt, ErrUnknownKey},
		{"a key id that is not one", join(p[0], p[1], "k/1", p[3], p[4], p[5]), issuedAt, ErrMalformed},
		{"nothing after the prefix", "vi1.", issuedAt, ErrMalformed},
	} {
		c, err := keys.Verify(tc.tok, tc.at)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %+v, %v; want %v", tc.name, c, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), p[5]) {
			t.Errorf("%s: the error shows the MAC: %v", tc.name, err)
		}
	}
}
