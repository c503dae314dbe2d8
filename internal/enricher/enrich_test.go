package enricher

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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
				// A record that decoded is dead-lettered without the fields the
				// policy drops; one that did not is dead-lettered as it was read.
				if tc.reason == ReasonInvalid {
					if h[stream.HeaderRedacted] != "player_name,file_path,file_name,library_name,title" {
						t.Errorf("dead letter of a decoded record: %s = %q, want the dropped fields", stream.HeaderRedacted, h[stream.HeaderRedacted])
					}
					_, got, err := reg.Decode(out.Value)
					if err != nil {
						t.Fatalf("the redacted dead letter does not decode: %v", err)
					}
					for _, f := range []string{"player_name", "file_path", "file_name", "library_name", "title"} {
						if got[f] != "" {
							t.Errorf("dead letter holds %s = %q", f, got[f])
						}
					}
				} else if !bytes.Equal(out.Value, tc.value) || h[stream.HeaderRedacted] != "" {
					t.Errorf("dead letter of a record that did not decode: value changed or %s = %q", stream.HeaderRedacted, h[stream.HeaderRedacted])
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

// A raw record that decodes but cannot be cleaned (here: the key store holds a
// corrupt key) is dead-lettered with every field the policy drops blanked and
// nothing else changed, with its original timestamp; once the key store is
// repaired, the dead letter replays into the clean record the original would
// have given, less nothing the clean record holds.
func TestADeadLetterOfADecodedRecordHoldsNoDroppedValueAndReplays(t *testing.T) {
	dir := t.TempDir()
	keyDir := filepath.Join(dir, "keys")
	p, _, err := NewProcessor(Config{Kafka: stream.Kafka{Topics: stream.DefaultTopics()}, KeyDir: keyDir, KeyPeriod: 30 * 24 * time.Hour, KeyRetention: 3})
	if err != nil {
		t.Fatal(err)
	}
	var in kafka.Message
	var rec map[string]any
	for _, m := range sample(t, 200) {
		if s, r, _ := p.Schemas.Decode(m.Value); s.Kind == "playback" && r["file_path"] != "" && r["title"] != "" && r["player_name"] != "" {
			in, rec = m, r
			break
		}
	}
	if rec == nil {
		t.Fatal("no playback event with a path, a title and a player name among 200")
	}
	raw, _ := p.Schemas.Writer(in.Value)
	// Written before Veil followed the Avro specification: the dead letter is
	// written with the specification's fingerprint, and its header says so.
	in.Value = append(binary.LittleEndian.AppendUint64([]byte{0xC3, 0x01}, raw.LegacyFingerprint), in.Value[10:]...)
	in.Headers = []kafka.Header{
		{Key: stream.HeaderContentType, Value: []byte(stream.AvroContentType)},
		{Key: stream.HeaderFingerprint, Value: []byte(fmt.Sprintf("%016x", raw.LegacyFingerprint))},
	}
	in.Topic, in.Partition, in.Offset = "telemetry.raw.v1", 2, 77
	corrupt := filepath.Join(keyDir, fmt.Sprintf("epoch-%d.key", time.Now().Unix()/int64(30*24*3600)))
	if err := os.WriteFile(corrupt, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	dl, outcome, reason := p.Process(in)
	if outcome != DeadLetter || reason != ReasonPolicyFailed {
		t.Fatalf("Process with a corrupt key = %v %q, want a dead letter, %s", outcome, reason, ReasonPolicyFailed)
	}
	drop := []string{"player_name", "file_path", "file_name", "library_name", "title"}
	if got := stream.Header(dl, stream.HeaderRedacted); got != strings.Join(drop, ",") {
		t.Errorf("%s = %q, want %q", stream.HeaderRedacted, got, strings.Join(drop, ","))
	}
	if got := stream.Header(dl, stream.HeaderFingerprint); got != raw.FingerprintHex() {
		t.Errorf("fingerprint header %s, want the specification's %s, which the value is written with", got, raw.FingerprintHex())
	}
	if !dl.Time.Equal(in.Time) || in.Time.IsZero() {
		t.Errorf("dead letter timestamp %v, want the raw record's %v", dl.Time, in.Time)
	}
	s, got, err := p.Schemas.Decode(dl.Value)
	if err != nil || s != raw {
		t.Fatalf("dead letter value decodes as %v, %v; want a record of %s", s, err, raw.Name)
	}
	for f, v := range rec {
		switch {
		case slices.Contains(drop, f):
			if got[f] != "" {
				t.Errorf("dead letter holds dropped field %s = %q", f, got[f])
			}
			all := append([]byte(nil), dl.Value...)
			for _, h := range dl.Headers {
				all = append(all, h.Value...)
			}
			if bytes.Contains(all, []byte(v.(string))) {
				t.Errorf("dead letter holds the value of %s, %q", f, v)
			}
		case !reflect.DeepEqual(got[f], v):
			t.Errorf("dead letter changed %s from %v to %v", f, v, got[f])
		}
	}

	// Repaired: the replayed dead letter (as replay-deadletter writes it, with
	// the original timestamp) is cleaned, into the record the original gives.
	if err := os.Remove(corrupt); err != nil {
		t.Fatal(err)
	}
	want, outcome, _ := p.Process(in)
	if outcome != Clean {
		t.Fatalf("the original after the repair: %v", outcome)
	}
	replayed := stream.Original(dl)
	if replayed.Topic != in.Topic {
		t.Errorf("the dead letter goes back to %q, want %q", replayed.Topic, in.Topic)
	}
	out, outcome, reason := p.Process(replayed)
	if outcome != Clean {
		t.Fatalf("the replayed dead letter: %v %q, want clean", outcome, reason)
	}
	if !bytes.Equal(out.Value, want.Value) || !bytes.Equal(out.Key, want.Key) || !out.Time.Equal(want.Time) {
		t.Errorf("the replayed dead letter's clean record differs from the original's")
	}
}
