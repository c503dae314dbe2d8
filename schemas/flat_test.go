package schemas_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/schemas"
)

// fleetMessages returns n raw messages of every kind from the simulated fleet,
// encoded by goavro, with identifying fields made of canary strings so that
// strings of many lengths occur.
func fleetMessages(t testing.TB, n int) [][]byte {
	t.Helper()
	reg := schemas.MustLoad()
	fleet := simulate.NewFleet(simulate.Config{Installations: 50, Seed: 3, Canary: true})
	var out [][]byte
	for range n {
		kind, rec, err := fleet.Next()
		if err != nil {
			t.Fatal(err)
		}
		msg, err := reg.Latest(schemas.Raw, kind).Encode(nil, rec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, msg)
	}
	return out
}

// The flat codec reads what goavro writes into the same values, and writes the
// same bytes back, for every kind, raw and clean.
func TestFlatCodecAgreesWithGoavro(t *testing.T) {
	reg := schemas.MustLoad()
	msgs := fleetMessages(t, 600)
	// Clean records too: the goavro decode of a raw record, kept to the fields
	// the clean schema shares with it, is not what the policy makes, but it
	// exercises the clean schemas' types.
	seen := map[string]bool{}
	for _, msg := range msgs {
		s, want, err := reg.Decode(msg)
		if err != nil {
			t.Fatal(err)
		}
		seen[s.Kind] = true
		fs, flat, err := reg.DecodeFlat(msg, nil)
		if err != nil || fs != s {
			t.Fatalf("%s: DecodeFlat = %v, %v; want the schema Decode found", s.Name, fs, err)
		}
		if got := s.FromFlat(flat); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: flat decode differs from goavro:\n got %#v\nwant %#v", s.Name, got, want)
		}
		again, err := s.AppendFlat(nil, flat)
		if err != nil || !bytes.Equal(again, msg) {
			t.Fatalf("%s: AppendFlat = % x, %v\nwant goavro's % x", s.Name, again, err, msg)
		}
		fromMap, err := s.ToFlat(want)
		if err != nil || !reflect.DeepEqual(fromMap, flat) {
			t.Fatalf("%s: ToFlat = %v, %v; want %v", s.Name, fromMap, err, flat)
		}
	}
	if len(seen) != len(reg.Kinds()) {
		t.Errorf("the sample covered kinds %v, want all of %v", seen, reg.Kinds())
	}
	for _, kind := range reg.Kinds() {
		clean := reg.Latest(schemas.Clean, kind)
		rec := map[string]any{}
		for i, f := range clean.Fields {
			switch clean.Type(i) {
			case schemas.TString:
				rec[f.Name] = strings.Repeat("é", i)
			case schemas.TInt:
				rec[f.Name] = int32(-i * 1000)
			case schemas.TLong:
				rec[f.Name] = int64(i) << 40
			case schemas.TBoolean:
				rec[f.Name] = i%2 == 0
			case schemas.TEnum:
				syms := clean.Symbols(i)
				rec[f.Name] = syms[i%len(syms)]
			case schemas.TTimestamp:
				rec[f.Name] = time.UnixMilli(1795526345123 + int64(i)).UTC()
			}
		}
		want, err := clean.Encode(nil, rec)
		if err != nil {
			t.Fatal(err)
		}
		flat, err := clean.ToFlat(rec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := clean.AppendFlat(nil, flat)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: AppendFlat = % x, %v; goavro wrote % x", clean.Name, got, err, want)
		}
	}
}

// ValidateFlat accepts and refuses what Validate does, with the same message.
func TestValidateFlatAgreesWithValidate(t *testing.T) {
	reg := schemas.MustLoad()
	now := time.Now()
	raw := reg.Latest(schemas.Raw, "playback")
	var base map[string]any
	for _, msg := range fleetMessages(t, 50) {
		if s, rec, err := reg.Decode(msg); err == nil && s == raw {
			base = rec
			break
		}
	}
	if base == nil {
		t.Fatal("no playback event among 50")
	}
	for _, tc := range []struct {
		name  string
		field string
		value any
	}{
		{"valid", "", nil},
		{"empty event id", "event_id", ""},
		{"event id not a UUID", "event_id", "not-a-uuid"},
		{"installation id with a path", "installation_id", "/srv/media"},
		{"too old", "event_time", now.Add(-schemas.DefaultMaxAge - time.Hour).UTC()},
		{"long installation id", "installation_id", strings.Repeat("i", schemas.MaxID+1)},
		{"long string", "title", strings.Repeat("t", schemas.MaxString+1)},
		{"invalid UTF-8", "title", "bad \xff byte"},
		{"negative int", "width", int32(-1)},
		{"negative long", "duration_ms", int64(-5)},
		{"far future", "event_time", now.Add(schemas.MaxFutureSkew + time.Hour).UTC()},
		{"before 1970", "event_time", time.UnixMilli(-1000).UTC()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := map[string]any{}
			for k, v := range base {
				rec[k] = v
			}
			if tc.field != "" {
				if _, ok := rec[tc.field]; !ok {
					t.Fatalf("playback has no field %s", tc.field)
				}
				rec[tc.field] = tc.value
			}
			want := schemas.Validate(raw, rec, schemas.WindowAt(now, 0))
			flat, err := raw.ToFlat(rec)
			if err != nil {
				t.Fatal(err)
			}
			got := schemas.ValidateFlat(raw, flat, schemas.WindowAt(now, 0))
			if (got == nil) != (want == nil) || (got != nil && got.Error() != want.Error()) {
				t.Errorf("ValidateFlat = %v, Validate = %v", got, want)
			}
			if tc.field != "" && (got == nil || !errors.Is(got, schemas.ErrInvalid)) {
				t.Errorf("ValidateFlat = %v, want ErrInvalid", got)
			}
		})
	}
}

// The registry's flat decoder refuses a whole message for the reasons Decode
// refuses it, with the same sentinel errors.
func TestRegistryDecodeFlatRefusesWhatDecodeRefuses(t *testing.T) {
	reg := schemas.MustLoad()
	good := fleetMessages(t, 1)[0]
	unknown := append([]byte{0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8}, good[10:]...)
	for _, tc := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"a message without the marker", append([]byte{0xC3, 0x02}, good[2:]...), schemas.ErrNotSingleObject},
		{"a message shorter than its header", good[:9], schemas.ErrNotSingleObject},
		{"an unknown fingerprint", unknown, schemas.ErrUnknownFingerprint},
		{"a truncated body", good[:len(good)-1], schemas.ErrMalformed},
		{"a trailing byte", append(append([]byte(nil), good...), 0), schemas.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, derr := reg.Decode(tc.msg)
			if _, _, err := reg.DecodeFlat(tc.msg, nil); !errors.Is(err, tc.want) || !errors.Is(derr, tc.want) {
				t.Errorf("DecodeFlat = %v, Decode = %v; want both %v", err, derr, tc.want)
			}
		})
	}
}

// FuzzDecodeFlat: the flat decoder never panics, accepts only what goavro
// accepts, and decodes it to the same values. It refuses more in one way only:
// numbers whose encoding overflows their type, which goavro silently truncates.
func FuzzDecodeFlat(f *testing.F) {
	reg := schemas.MustLoad()
	for i, msg := range fleetMessages(f, 12) {
		f.Add(msg)
		f.Add(msg[:len(msg)-1-i])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fp, err := schemas.Fingerprint(data)
		if err != nil {
			return
		}
		s, ok := reg.Lookup(fp)
		if !ok {
			return
		}
		flat, ferr := s.DecodeFlat(data[10:], nil)
		want, gerr := s.DecodeBody(data[10:])
		switch {
		case ferr == nil && gerr == nil:
			if got := s.FromFlat(flat); !reflect.DeepEqual(got, want) {
				t.Fatalf("decoders disagree:\nflat   %#v\ngoavro %#v", got, want)
			}
		case ferr != nil && gerr != nil:
			if !errors.Is(ferr, schemas.ErrMalformed) {
				t.Fatalf("DecodeFlat error %v is not ErrMalformed", ferr)
			}
		case ferr != nil && strings.Contains(ferr.Error(), "overflows"):
		default:
			t.Fatalf("one decoder accepts what the other refuses: flat %v, goavro %v", ferr, gerr)
		}
	})
}
