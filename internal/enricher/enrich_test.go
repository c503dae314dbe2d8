package enricher

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// The enricher's flat path gives, for every kind, exactly the clean record the
// policy's reference form (goavro maps, the form of the golden files) gives, with
// the event id as key and the hour the raw record arrived in as the record's
// timestamp: no time finer than the hour leaves the enricher.
func TestProcessMatchesThePolicyOnEveryKind(t *testing.T) {
	p := testProcessor(t)
	kinds := map[string]int{}
	for _, m := range sample(t, 3000) {
		raw, rec, err := p.Schemas.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		kp, _ := p.Policy.For(raw)
		out, outcome, reason := p.Process(m)
		if r := kp.DropReason(rec); r != "" {
			if outcome != Dropped || reason != r {
				t.Fatalf("%s: Process = %v %q, want dropped %q", raw.Kind, outcome, reason, r)
			}
			continue
		}
		if outcome != Clean {
			t.Fatalf("%s: Process = %v %q, want clean", raw.Kind, outcome, reason)
		}
		kinds[raw.Kind]++
		want, err := kp.Apply(rec)
		if err != nil {
			t.Fatal(err)
		}
		cs, got, err := p.Schemas.Decode(out.Value)
		if err != nil || cs != kp.Clean {
			t.Fatalf("clean record decodes as %v, %v", cs, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: Process made\n%#v\nthe policy makes\n%#v", raw.Kind, got, want)
		}
		hour := m.Time.UTC().Truncate(time.Hour)
		if string(out.Key) != rec["event_id"] || !out.Time.Equal(hour) || out.Topic != p.Topics.Clean {
			t.Fatalf("message key %q time %v topic %q; want the event id %q, %v, %q", out.Key, out.Time, out.Topic, rec["event_id"], hour, p.Topics.Clean)
		}
		if out.Time.UnixMilli()%time.Hour.Milliseconds() != 0 {
			t.Fatalf("clean record timestamp %v is finer than the hour", out.Time)
		}
	}
	if len(kinds) != len(p.Schemas.Kinds()) {
		t.Errorf("clean records of kinds %v, want every kind", kinds)
	}
}

type optOut map[string]string

func (o optOut) OptedOut(inst, category string) bool { return o[inst] == category }

// Bad records become dead letters with the reason the metrics and headers use;
// opted-out ones are dropped; nothing panics.
func TestProcessOutcomes(t *testing.T) {
	p := testProcessor(t)
	reg := p.Schemas
	var good kafka.Message
	var raw *schemas.Schema
	var rec map[string]any
	for _, m := range sample(t, 100) {
		if s, r, _ := reg.Decode(m.Value); s.Kind == "playback" && p.Policy != nil {
			good, raw, rec = m, s, r
			break
		}
	}
	if raw == nil {
		t.Fatal("no playback event among 100")
	}
	withFields := func(change map[string]any) []byte {
		r := map[string]any{}
		for k, v := range rec {
			r[k] = v
		}
		for k, v := range change {
			r[k] = v
		}
		b, err := raw.Encode(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withField := func(k string, v any) []byte { return withFields(map[string]any{k: v}) }
	clean := reg.Latest(schemas.Clean, raw.Kind)
	cleanMsg, err := clean.AppendFlat(nil, make([]schemas.Value, len(clean.Fields)))
	if err != nil {
		t.Fatal(err)
	}
	unknown := append([]byte{0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8}, good.Value[10:]...)
	// Written before Veil followed the Avro specification's canonical form.
	legacy := append(binary.LittleEndian.AppendUint64([]byte{0xC3, 0x01}, raw.LegacyFingerprint), good.Value[10:]...)
	p.Consent = optOut{"opted-out": raw.Consent}
	for _, tc := range []struct {
		name    string
		value   []byte
		outcome Outcome
		reason  string
	}{
		{"not single object", []byte(`{"json":true}`), DeadLetter, ReasonNotAvro},
		{"unknown fingerprint", unknown, DeadLetter, ReasonFingerprint},
		{"truncated", good.Value[:len(good.Value)-3], DeadLetter, ReasonMalformed},
		{"trailing bytes", append(append([]byte(nil), good.Value...), 0), DeadLetter, ReasonMalformed},
		{"clean schema", cleanMsg, DeadLetter, ReasonNotRaw},
		{"empty installation", withField("installation_id", ""), DeadLetter, ReasonInvalid},
		{"far future", withField("event_time", time.Now().Add(48*time.Hour)), DeadLetter, ReasonInvalid},
		{"invalid UTF-8", withField("app_version", "1.\xff"), DeadLetter, ReasonInvalid},
		{"opted out", withField("installation_id", "opted-out"), Dropped, ReasonOptedOut + raw.Consent},
		{"event id not a UUID", withField("event_id", "dana@example.org"), DeadLetter, ReasonInvalid},
		{"installation id with a path", withField("installation_id", "/home/dana"), DeadLetter, ReasonInvalid},
		{"older than a week when it arrived", withField("event_time", time.Now().Add(-8*24*time.Hour)), DeadLetter, ReasonInvalid},
		// Consent comes before validation: an opted-out installation's invalid
		// event is dropped, never dead-lettered with its identifiers.
		{"opted out and invalid", withFields(map[string]any{"installation_id": "opted-out", "event_id": "not-a-uuid", "file_path": "/home/dana/\xff"}), Dropped, ReasonOptedOut + raw.Consent},
		{"good", good.Value, Clean, ""},
		{"legacy fingerprint", legacy, Clean, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := kafka.Message{Topic: "raw", Partition: 3, Offset: 42, Value: tc.value}
			out, outcome, reason := p.Process(in)
			if outcome != tc.outcome || reason != tc.reason {
				t.Fatalf("Process = %v %q, want %v %q", outcome, reason, tc.outcome, tc.reason)
			}
			if outcome == DeadLetter {
				h := map[string]string{}
				for _, x := range out.Headers {
					h[x.Key] = string(x.Value)
				}
				if out.Topic != p.Topics.DeadLetter || h[stream.HeaderStage] != "enricher" || h[stream.HeaderSourceOffset] != "42" ||
					h[stream.HeaderSourcePartition] != "3" || h[stream.HeaderReason] != tc.reason || strings.TrimSpace(h[stream.HeaderError]) == "" {
					t.Errorf("dead letter topic %q headers %v", out.Topic, h)
				}
			}
			if outcome == Clean {
				if !bytes.Equal(out.Value[:10], clean.Header()) || stream.Header(out, stream.HeaderFingerprint) != clean.FingerprintHex() {
					t.Errorf("clean record starts with % x, fingerprint header %q; want % x and %s",
						out.Value[:10], stream.Header(out, stream.HeaderFingerprint), clean.Header(), clean.FingerprintHex())
				}
			}
		})
	}
}
