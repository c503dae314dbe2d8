package schemas_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// Avro Java, the reference implementation, computes the same fingerprint
// (SchemaNormalization.parsingFingerprint64) and canonical form for every
// embedded schema, and for every good canonical-form fixture; it refuses every
// bad fixture, as CanonicalForm does.
func TestFingerprintsMatchAvroJava(t *testing.T) {
	java := testenv.Java(t)
	reg := schemas.MustLoad()
	var files []string
	for _, s := range reg.All() {
		files = append(files, "schemas/"+s.File)
	}
	good, _ := filepath.Glob("testdata/canonical/good/*.avsc")
	bad, _ := filepath.Glob("testdata/canonical/bad/*.avsc")
	if len(good) == 0 || len(bad) == 0 {
		t.Fatalf("%d good and %d bad canonical-form fixtures, want some of each", len(good), len(bad))
	}
	for _, f := range append(append([]string(nil), good...), bad...) {
		files = append(files, "schemas/"+f)
	}
	got := java.Fingerprints(files...)

	t.Run("embedded schemas", func(t *testing.T) {
		for _, s := range reg.All() {
			j := got["schemas/"+s.File]
			if j.Error != "" {
				t.Errorf("%s: Avro Java refuses it: %s", s.File, j.Error)
				continue
			}
			if j.Fingerprint != s.FingerprintHex() || j.Canonical != s.Canonical {
				t.Errorf("%s:\n Avro Java %s %s\n Veil      %s %s", s.File, j.Fingerprint, j.Canonical, s.FingerprintHex(), s.Canonical)
			}
			t.Logf("%s: %s (Avro Java and Veil); legacy %016x", s.File, j.Fingerprint, s.LegacyFingerprint)
		}
	})
	t.Run("good fixtures", func(t *testing.T) {
		for _, f := range good {
			j := got["schemas/"+f]
			canonical, err := schemas.CanonicalForm(readFile(t, f))
			if err != nil || j.Error != "" {
				t.Errorf("%s: CanonicalForm error %v, Avro Java error %q; want neither", f, err, j.Error)
				continue
			}
			want := strings.TrimSuffix(string(readFile(t, strings.TrimSuffix(f, ".avsc")+".canonical")), "\n")
			if fp := schemas.Rabin([]byte(canonical)); j.Canonical != canonical || j.Canonical != want || j.Fingerprint != fmt.Sprintf("%016x", fp) {
				t.Errorf("%s:\n Avro Java %s %s\n Veil      %s %s\n expected  %s", f, j.Fingerprint, j.Canonical, fmt.Sprintf("%016x", fp), canonical, want)
			}
		}
	})
	t.Run("bad fixtures", func(t *testing.T) {
		for _, f := range bad {
			if j := got["schemas/"+f]; j.Error == "" {
				t.Errorf("%s: Avro Java accepts it (%s %s); CanonicalForm refuses it", f, j.Fingerprint, j.Canonical)
			}
		}
	})
}
