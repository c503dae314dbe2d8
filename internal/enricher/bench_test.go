package enricher

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/geo"
	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
	"github.com/veiltelemetry/veil/tools/bench/naive"
)

// sample returns n raw records of every kind, as the simulated fleet sends them,
// with event times in the hour before now so that they validate.
func sample(tb testing.TB, n int) []kafka.Message {
	tb.Helper()
	reg := schemas.MustLoad()
	fleet := simulate.NewFleet(simulate.Config{Installations: 2000, Seed: 7})
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		kind, rec, err := fleet.Next()
		if err != nil {
			tb.Fatal(err)
		}
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
	if _, err := geo.BuildFile(context.Background(), mmdb, []string{"../geo/testdata/geoip"}, io.Discard); err != nil {
		tb.Fatal(err)
	}
	p, _, err := NewProcessor(Config{Kafka: stream.Kafka{Topics: stream.DefaultTopics()}, KeyDir: filepath.Join(dir, "keys"),
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

// BenchmarkNaiveGoavro is the baseline of BenchmarkProcess, the same one
// scripts/bench uses (package naive): goavro decodes the raw record into a map,
// the fields the clean schema shares with it are copied, and goavro encodes the
// clean record. No policy, no checks.
func BenchmarkNaiveGoavro(b *testing.B) {
	n, err := naive.New(schemas.MustLoad())
	if err != nil {
		b.Fatal(err)
	}
	msgs := sample(b, 4096)
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if buf, err = n.Convert(buf, msgs[i%len(msgs)].Value); err != nil {
			b.Fatal(err)
		}
	}
}
