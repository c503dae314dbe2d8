package enricher

import (
	"encoding/json"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/geo"
	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// sample returns n raw records of every kind, as the simulated fleet sends them,
// with event times in the hour before now so that they validate.
func sample(tb testing.TB, n int) []kafka.Message {
	tb.Helper()
	reg := schemas.MustLoad()
	fleet := simulate.NewFleet(simulate.Config{Installations: 2000, Seed: 7})
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		kind, rec := fleet.Next()
		v, err := reg.Latest(schemas.Raw, kind).Encode(nil, rec)
		if err != nil {
			tb.Fatal(err)
		}
		msgs[i] = kafka.Message{Value: v, Time: time.Now()}
	}
	return msgs
}

// testProcessor is the processor Run builds, with a fresh key directory and an IP
// database built from the test ranges of internal/geo.
func testProcessor(tb testing.TB) *Processor {
	tb.Helper()
	dir := tb.TempDir()
	mmdb := filepath.Join(dir, "geo.mmdb")
	if _, err := geo.BuildFile(mmdb, []string{"../geo/testdata/geoip"}, io.Discard); err != nil {
		tb.Fatal(err)
	}
	p, err := NewProcessor(Config{Kafka: stream.Kafka{Topics: stream.DefaultTopics()}, KeyDir: filepath.Join(dir, "keys"),
		KeyPeriod: 30 * 24 * time.Hour, KeyRetention: 3, GeoIP: mmdb})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkProcess is the enricher's work per event: decode by fingerprint,
// validate, check consent and the policy's requirements, apply the policy
// (pseudonyms, geo, generalization) and encode the clean record with its headers.
// Compare it with BenchmarkNaiveGoavro, run in the same `go test -bench` call.
func BenchmarkProcess(b *testing.B) {
	p := testProcessor(b)
	msgs := sample(b, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, outcome, reason := p.Process(msgs[i%len(msgs)]); outcome == DeadLetter {
			b.Fatalf("dead letter: %s", reason)
		}
	}
}

// BenchmarkNaiveGoavro is the baseline of BenchmarkProcess: goavro decodes the raw
// record into a map, the fields the clean schema shares with it are copied, and
// goavro encodes the clean record. No policy, no checks.
func BenchmarkNaiveGoavro(b *testing.B) {
	n := NewNaive(schemas.MustLoad())
	msgs := sample(b, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := n.Convert(msgs[i%len(msgs)].Value); err != nil {
			b.Fatal(err)
		}
	}
}

// The baseline must do comparable work: it decodes every record and encodes one
// the clean schema accepts.
func TestNaiveConvertsEveryKind(t *testing.T) {
	reg := schemas.MustLoad()
	n := NewNaive(reg)
	for _, m := range sample(t, 200) {
		out, err := n.Convert(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := reg.Decode(out)
		if err != nil || s.Stage != schemas.Clean {
			t.Fatalf("baseline output decodes as %v, %v", s, err)
		}
	}
}

// Naive is the naive goavro path the benchmarks compare the enricher with.
type Naive struct {
	reg   *schemas.Registry
	clean map[uint64]*schemas.Schema // by raw fingerprint
}

// NewNaive pairs every raw schema with the clean schema of its kind.
func NewNaive(reg *schemas.Registry) *Naive {
	n := &Naive{reg: reg, clean: map[uint64]*schemas.Schema{}}
	for _, s := range reg.All() {
		if s.Stage == schemas.Raw {
			n.clean[s.Fingerprint] = reg.Latest(schemas.Clean, s.Kind)
		}
	}
	return n
}

// Convert decodes msg with goavro into a map and encodes the clean record.
func (n *Naive) Convert(msg []byte) ([]byte, error) {
	fp, err := schemas.Fingerprint(msg)
	if err != nil {
		return nil, err
	}
	raw, _ := n.reg.Lookup(fp)
	native, _, err := raw.Codec.NativeFromBinary(msg[10:])
	if err != nil {
		return nil, err
	}
	in := native.(map[string]any)
	clean := n.clean[fp]
	out := make(map[string]any, len(clean.Fields))
	for _, f := range clean.Fields {
		if v, ok := in[f.Name]; ok {
			out[f.Name] = v
		} else {
			out[f.Name] = zero(f.Type)
		}
	}
	return clean.Codec.BinaryFromNative(append([]byte(nil), clean.Header()...), out)
}

// zero is a value of the Avro type t, for clean fields the raw record lacks.
func zero(t json.RawMessage) any {
	var typ struct {
		Type    string   `json:"type"`
		Symbols []string `json:"symbols"`
	}
	if err := json.Unmarshal(t, &typ.Type); err != nil {
		_ = json.Unmarshal(t, &typ)
	}
	switch {
	case typ.Type == "string":
		return ""
	case typ.Type == "boolean":
		return false
	case typ.Type == "enum":
		return typ.Symbols[0]
	}
	return time.Unix(0, 0) // long, int, and timestamp-millis all take a time
}
