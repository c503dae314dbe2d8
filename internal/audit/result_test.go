package audit_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/veiltelemetry/veil/internal/audit"
	"github.com/veiltelemetry/veil/schemas"
)

const rerecord = `VEIL_CATALOG="$(scripts/catalog)" go test ./internal/audit -update`

// result.json is what the audit measures today, byte for byte; -update rewrites it.
func TestRecordedResultIsWhatTheAuditMeasures(t *testing.T) {
	cat := realCatalog(t) // skips visibly without VEIL_CATALOG (so -update leaves result.json), fails under CI
	data, err := os.ReadFile(os.Getenv("VEIL_CATALOG"))
	if err != nil {
		t.Fatal(err)
	}
	reg := schemas.MustLoad()
	digest, err := audit.Digest(reg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := audit.Run(reg, cat, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	want, err := r.Result(hex.EncodeToString(sum[:]), digest).JSON()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("result.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile("result.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Errorf("result.json differs from what the audit measures today; re-record it with: %s\nwant:\n%s", rerecord, want)
	}
}

// The result embedded in the binary, which the privacy tab states, was recorded
// under the policy compiled today, for today's tuple, by the default run, and
// keeps the promise. This needs no catalog: the policy's digest stands for it.
func TestRecordedResultMatchesThePolicy(t *testing.T) {
	reg := schemas.MustLoad()
	digest, err := audit.Digest(reg)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("result.json")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := audit.ParseResult(have)
	if err != nil {
		t.Fatalf("%v (re-record it with: %s)", err, rerecord)
	}
	if emb, err := audit.Recorded(); !*update && (err != nil || !reflect.DeepEqual(emb, rec)) {
		t.Errorf("the embedded result differs from result.json (%v)", err)
	}
	if rec.Policy != digest {
		t.Errorf("result.json was recorded under policy %s, the policy compiled today is %s: re-record it with: %s", rec.Policy, digest, rerecord)
	}
	tup, err := audit.NewTuple(reg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rec.Tuple, tup.Fields) {
		t.Errorf("result.json measured the tuple %v, today's is %v", rec.Tuple, tup.Fields)
	}
	one, _ := rec.Targeted()
	if one.FilesPerTitle != 1 || rec.Command != audit.Command || rec.Titles != 1209 || len(rec.Seeds) != audit.DefaultSeeds {
		t.Errorf("result.json is not the default run on the full catalog: %+v", rec)
	}
	if pass := one.Clean.UniqueTitleShare.Max <= rec.Targets.MaxUniqueTitleShare && one.Clean.KMedian.Min >= rec.Targets.MinMedianK; !pass || !rec.Pass {
		t.Errorf("result.json records a run that misses the targets: %+v", one)
	}
	if one.Worst.UniqueTitleShare != one.Clean.UniqueTitleShare.Max {
		t.Errorf("the worst seed's share %v is not the largest %v", one.Worst.UniqueTitleShare, one.Clean.UniqueTitleShare.Max)
	}
}

// The digest sees a change of the policy's media rules, and only of them.
func TestDigestFollowsThePolicy(t *testing.T) {
	base, err := audit.Digest(schemas.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := audit.Digest(schemas.MustLoad()); again != base {
		t.Errorf("Digest is not deterministic: %s, then %s", base, again)
	}
	digestOf := func(edit func(stage, text string) string) string {
		reg, err := schemas.LoadFS(schemaFS(t, edit))
		if err != nil {
			t.Fatal(err)
		}
		d, err := audit.Digest(reg)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	dropped := digestOf(func(stage, text string) string {
		if stage == "raw" {
			return strings.Replace(text, `"name": "audio_codec", "type": "string", "default": "", "privacy": "keep", "domain": "audio_codec",`,
				`"name": "audio_codec", "type": "string", "default": "", "privacy": "drop",`, 1)
		}
		return cleanField("audio_codec").ReplaceAllString(text, "")
	})
	if dropped == base {
		t.Errorf("dropping audio_codec left the digest at %s", base)
	}
	sender := digestOf(func(stage, text string) string {
		if stage == "raw" {
			return strings.Replace(text, `"name": "platform", "type": "string", "privacy": "keep", "domain": "platform",`,
				`"name": "platform", "type": "string", "privacy": "drop",`, 1)
		}
		return cleanField("platform").ReplaceAllString(text, "")
	})
	if sender != base {
		t.Errorf("dropping platform, which is about the sender, changed the digest from %s to %s", base, sender)
	}
}
