package testenv

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// AvroJava runs Avro's reference implementation, Avro Java, through
// tools/avrojava/AvroJava.java, so that tests compare Veil's wire format with it.
type AvroJava struct {
	t         testing.TB
	java      string // the java launcher
	classpath string // the Avro jars, as scripts/avrojava classpath prints them
	tool      string // tools/avrojava/AvroJava.java
	dir       string // the repository root: schema files are named from it
}

// Java returns the Avro Java runner. VEIL_AVRO_JAVA names the classpath of the
// Avro jars (scripts/test sets it from `scripts/avrojava classpath`); when it is
// unset the test is skipped visibly, except under CI=true, where it fails. When
// it is set, a missing java or jar always fails the test.
func Java(t testing.TB) *AvroJava {
	t.Helper()
	cp := os.Getenv("VEIL_AVRO_JAVA")
	if cp == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("VEIL_AVRO_JAVA is not set: this test needs Avro Java; run it through scripts/test, which resolves the jars")
		}
		t.Skip("VEIL_AVRO_JAVA not set: skipping the Avro Java interoperability test (scripts/test sets it: scripts/avrojava classpath)")
	}
	jars, _ := filepath.Glob(filepath.Join(strings.TrimSuffix(cp, "*"), "avro-*.jar"))
	if len(jars) == 0 {
		t.Fatalf("VEIL_AVRO_JAVA=%s holds no avro-*.jar (scripts/avrojava classpath resolves it)", cp)
	}
	java := "java"
	if home := os.Getenv("JAVA_HOME"); home != "" {
		java = filepath.Join(home, "bin", "java")
	}
	java, err := exec.LookPath(java)
	if err != nil {
		t.Fatalf("VEIL_AVRO_JAVA is set but there is no java to run it: %v", err)
	}
	root := RepoRoot(t)
	return &AvroJava{t: t, java: java, classpath: cp, tool: filepath.Join(root, "tools", "avrojava", "AvroJava.java"), dir: root}
}

// run runs one command of the tool with stdin and returns its lines of output.
func (j *AvroJava) run(stdin string, args ...string) []string {
	j.t.Helper()
	cmd := exec.Command(j.java, append([]string{"-cp", j.classpath, j.tool}, args...)...)
	cmd.Dir = j.dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		j.t.Fatalf("AvroJava %s: %v\n%s", args[0], err, stderr.String())
	}
	out := strings.TrimSuffix(stdout.String(), "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// JavaSchema is what Avro Java makes of one schema file.
type JavaSchema struct {
	Fingerprint string // SchemaNormalization.parsingFingerprint64 as 16 hex digits
	Canonical   string // SchemaNormalization.toParsingForm
	Error       string // why Avro Java refused the schema, "" when it did not
}

// Fingerprints parses each schema file (named from the repository root) with
// Avro Java and returns its fingerprint and canonical form, by file.
func (j *AvroJava) Fingerprints(files ...string) map[string]JavaSchema {
	j.t.Helper()
	out := map[string]JavaSchema{}
	for _, line := range j.run("", append([]string{"fingerprint"}, files...)...) {
		f := strings.SplitN(line, "\t", 3)
		switch {
		case len(f) == 2 && strings.HasPrefix(f[1], "error: "):
			out[f[0]] = JavaSchema{Error: strings.TrimPrefix(f[1], "error: ")}
		case len(f) == 3:
			out[f[0]] = JavaSchema{Fingerprint: f[1], Canonical: f[2]}
		default:
			j.t.Fatalf("AvroJava fingerprint: unexpected line %q", line)
		}
	}
	if len(out) != len(files) {
		j.t.Fatalf("AvroJava fingerprint: %d results for %d files", len(out), len(files))
	}
	return out
}

// JavaRecord is a record for Avro Java: the schema file it is written with
// (named from the repository root) and the record in Avro's JSON encoding.
type JavaRecord struct {
	Schema string
	JSON   string
}

// Encode has Avro Java's BinaryMessageEncoder write each record as a
// single-object encoded message.
func (j *AvroJava) Encode(recs []JavaRecord) [][]byte {
	j.t.Helper()
	var in strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&in, "%s\t%s\n", r.Schema, r.JSON)
	}
	lines := j.run(in.String(), "encode")
	if len(lines) != len(recs) {
		j.t.Fatalf("AvroJava encode: %d messages for %d records", len(lines), len(recs))
	}
	out := make([][]byte, len(lines))
	for i, l := range lines {
		b, err := hex.DecodeString(l)
		if err != nil {
			j.t.Fatalf("AvroJava encode: line %d: %v", i, err)
		}
		out[i] = b
	}
	return out
}

// Decode has Avro Java's BinaryMessageDecoder read each single-object encoded
// message with the schema file of the same index. Each result is the record in
// Avro's JSON encoding, or "error: " and why the decoder refused the message.
func (j *AvroJava) Decode(schemaFiles []string, msgs [][]byte) []string {
	j.t.Helper()
	if len(schemaFiles) != len(msgs) {
		j.t.Fatalf("AvroJava decode: %d schema files for %d messages", len(schemaFiles), len(msgs))
	}
	var in strings.Builder
	for i, m := range msgs {
		fmt.Fprintf(&in, "%s\t%s\n", schemaFiles[i], hex.EncodeToString(m))
	}
	lines := j.run(in.String(), "decode")
	if len(lines) != len(msgs) {
		j.t.Fatalf("AvroJava decode: %d results for %d messages", len(lines), len(msgs))
	}
	return lines
}
