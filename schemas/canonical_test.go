package schemas_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/veiltelemetry/veil/schemas"
)

// Each testdata/canonical/good/NAME.avsc has its expected Parsing Canonical Form,
// written by hand from the specification's rules, in NAME.canonical. The Avro Java
// test (java_test.go) checks both files against the reference implementation.
func TestCanonicalFormOfTheGoodFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/canonical/good/*.avsc")
	if err != nil || len(files) < 10 {
		t.Fatalf("good fixtures: %d files, %v; want at least 10", len(files), err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".avsc")
		t.Run(name, func(t *testing.T) {
			schema, want := readFile(t, file), readFile(t, strings.TrimSuffix(file, ".avsc")+".canonical")
			got, err := schemas.CanonicalForm(schema)
			if err != nil {
				t.Fatalf("CanonicalForm: %v", err)
			}
			if want := strings.TrimSuffix(string(want), "\n"); got != want {
				t.Errorf("CanonicalForm =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// Every schema under testdata/canonical/bad is refused, with a reason; Avro Java
// refuses each of them too (java_test.go).
func TestCanonicalFormRejectsTheBadFixtures(t *testing.T) {
	tests := map[string]string{
		"array-without-items":       `array without "items"`,
		"data-after-the-schema":     "data after the schema",
		"defined-twice":             `enum "E" is defined twice`,
		"field-name-not-a-name":     "field 0: name file path is not an Avro name",
		"field-without-type":        "field f has no type",
		"fixed-size-fraction":       "size 1.5 is not a non-negative integer",
		"fixed-size-leading-zero":   "parse JSON",
		"fixed-size-negative":       "size -1 is not a non-negative integer",
		"map-without-values":        `map without "values"`,
		"name-starts-with-a-digit":  `fixed "1Hash": "1Hash" is not an Avro name`,
		"namespace-part-not-a-name": `fixed "a..b.Hash": "" is not an Avro name`,
		"no-type":                   `object without "type"`,
		"not-json":                  "parse JSON",
		"primitive-redefined":       `fixed "long": a primitive type's name cannot be redefined`,
		"record-without-fields":     `record R: "fields" is missing or not an array`,
		"schema-is-a-number":        "a schema is a string, an array or an object, not a number",
		"symbol-not-a-name":         "enum E: symbol direct-play is not an Avro name",
		"type-is-a-number":          `"type" is a number, not a type name`,
		"type-wrapping-a-schema":    `"type" is an object, not a type name`,
		"unknown-reference":         `record R: field f: unknown type "Missing"`,
	}
	files, err := filepath.Glob("testdata/canonical/bad/*.avsc")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("testdata/canonical/bad has %d fixtures and the table %d cases; every fixture needs an expected error", len(files), len(tests))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".avsc")
		t.Run(name, func(t *testing.T) {
			want, ok := tests[name]
			if !ok {
				t.Fatalf("no expected error for %s", file)
			}
			got, err := schemas.CanonicalForm(readFile(t, file))
			if err == nil {
				t.Fatalf("CanonicalForm = %s, want an error containing %q", got, want)
			}
			if !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "canonical form: ") {
				t.Errorf("CanonicalForm error = %q, want it to start with \"canonical form: \" and contain %q", err, want)
			}
		})
	}
}

// Every embedded schema carries the canonical form of its file and its Rabin
// fingerprint. A primitive is never left wrapped in an object, as goavro's form
// leaves those with a logical type; only where goavro's form is the
// specification's are the two fingerprints the same.
func TestEverySchemaCarriesItsCanonicalFormAndFingerprint(t *testing.T) {
	wrapped := regexp.MustCompile(`\{"type":"(null|boolean|int|long|float|double|bytes|string)"\}`)
	for _, s := range schemas.MustLoad().All() {
		canonical, err := schemas.CanonicalForm(readFile(t, s.File))
		if err != nil {
			t.Fatalf("%s: %v", s.File, err)
		}
		if s.Canonical != canonical || s.Fingerprint != schemas.Rabin([]byte(canonical)) {
			t.Errorf("%s: Canonical %q, Fingerprint %s; want CanonicalForm of the file and its Rabin", s.File, s.Canonical, s.FingerprintHex())
		}
		if w := wrapped.FindString(s.Canonical); w != "" {
			t.Errorf("%s: canonical form holds %s", s.File, w)
		}
		if same := s.Codec.CanonicalSchema() == s.Canonical; same != (s.Fingerprint == s.LegacyFingerprint) {
			t.Errorf("%s: goavro's form equal to the canonical form: %v; fingerprints %s and %016x", s.File, same, s.FingerprintHex(), s.LegacyFingerprint)
		}
	}
}

// readFile reads a file of the package directory (schema files are named from it,
// raw/playback.v1.avsc).
func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
