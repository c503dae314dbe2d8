package schemas_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

// validRecord is a raw event Validate accepts, in goavro's native form.
func validRecord(now time.Time) map[string]any {
	return map[string]any{
		"event_id": "0f8e2b9c-6a51-4a7e-9d7c-2b1f0c3e5a77", "event_time": now.Add(-time.Minute),
		"installation_id": "srv-7c1d2e4f9a", "client_ip": "", "title": "Blade Runner",
		"duration_ms": int64(7862000), "bitrate_kbps": int32(14320), "width": int32(0), "played_ms": int64(0),
	}
}

func TestValidate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	playback := schemas.MustLoad().Latest(schemas.Raw, "playback")
	for _, tc := range []struct {
		name   string
		change func(map[string]any)
		want   string // "" when the record is valid
	}{
		{"a complete record is valid", func(map[string]any) {}, ""},
		{"zero numbers and empty optional strings are valid", func(r map[string]any) { r["duration_ms"], r["bitrate_kbps"], r["title"] = int64(0), int32(0), "" }, ""},
		{"an event time within the allowed skew is valid", func(r map[string]any) { r["event_time"] = now.Add(schemas.MaxFutureSkew) }, ""},
		{"an event time just inside the age limit is valid", func(r map[string]any) { r["event_time"] = now.Add(-schemas.DefaultMaxAge) }, ""},
		{"a string of exactly MaxString bytes is valid", func(r map[string]any) { r["title"] = strings.Repeat("é", schemas.MaxString/2) }, ""},
		{"an installation id of exactly MaxID bytes is valid", func(r map[string]any) { r["installation_id"] = strings.Repeat("a", schemas.MaxID) }, ""},
		{"an installation id with dots, colons, dashes and underscores is valid", func(r map[string]any) { r["installation_id"] = "srv.A1:b-2_c" }, ""},
		{"an upper-case UUID is a valid event id", func(r map[string]any) { r["event_id"] = "0F8E2B9C-6A51-4A7E-9D7C-2B1F0C3E5A77" }, ""},
		{"a missing event id is refused", func(r map[string]any) { delete(r, "event_id") }, "event_id must be 1-128 bytes, got 0"},
		{"an event id that is not a UUID is refused", func(r map[string]any) { r["event_id"] = "dana@example.org" }, "event_id must be a UUID"},
		{"a UUID with a path after it is refused", func(r map[string]any) { r["event_id"] = "0f8e2b9c-6a51-4a7e-9d7c-2b1f0c3e5a77/home/dana" }, "event_id must be a UUID"},
		{"an empty installation id is refused", func(r map[string]any) { r["installation_id"] = "" }, "installation_id must be 1-128 bytes, got 0"},
		{"an installation id that is not a string is refused", func(r map[string]any) { r["installation_id"] = 42 }, "installation_id: want string"},
		{"an installation id over MaxID bytes is refused", func(r map[string]any) { r["installation_id"] = strings.Repeat("a", schemas.MaxID+1) }, "installation_id must be 1-128 bytes, got 129"},
		{"an installation id holding an e-mail address is refused", func(r map[string]any) { r["installation_id"] = "dana@example.org" }, "installation_id may hold only letters"},
		{"an installation id holding a path is refused", func(r map[string]any) { r["installation_id"] = "/home/dana" }, "installation_id may hold only letters"},
		{"an installation id holding a space is refused", func(r map[string]any) { r["installation_id"] = "Dana s NAS" }, "installation_id may hold only letters"},
		{"a string over MaxString bytes is refused", func(r map[string]any) { r["title"] = strings.Repeat("x", schemas.MaxString+1) }, "title is 4097 bytes, limit 4096"},
		{"invalid UTF-8 is refused", func(r map[string]any) { r["title"] = "Caf\xe9" }, "title is not valid UTF-8"},
		{"a negative long is refused", func(r map[string]any) { r["duration_ms"] = int64(-1) }, "duration_ms is negative (-1)"},
		{"a negative int is refused", func(r map[string]any) { r["bitrate_kbps"] = int32(-5) }, "bitrate_kbps is negative (-5)"},
		{"an event time past the skew is refused", func(r map[string]any) { r["event_time"] = now.Add(schemas.MaxFutureSkew + time.Millisecond) },
			"event_time 2026-03-02T12:00:00Z is more than 24h0m0s in the future"},
		{"an event time older than the age limit is refused", func(r map[string]any) { r["event_time"] = now.Add(-schemas.DefaultMaxAge - time.Millisecond) },
			"event_time 2026-02-22T11:59:59Z is older than the 168h0m0s the pipeline accepts"},
		{"an event time of 1970 is refused", func(r map[string]any) { r["event_time"] = time.Unix(0, 0) }, "event_time 1970-01-01T00:00:00Z is older"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validRecord(now)
			tc.change(r)
			err := schemas.Validate(playback, r, schemas.WindowAt(now, 0))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tc.want == "":
			case err == nil:
				t.Fatalf("Validate: nil, want an error containing %q", tc.want)
			case !errors.Is(err, schemas.ErrInvalid) || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Validate: %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

func TestCheckInstallationIDIsTheSyntaxOfValidate(t *testing.T) {
	for _, id := range []string{"srv-7c1d2e4f9a", "a", "A.b_c:d-e", "", "-srv", "dana@example.org", "x y", "é", strings.Repeat("z", schemas.MaxID+1)} {
		err := schemas.CheckInstallationID(id)
		r := validRecord(time.Now())
		r["installation_id"] = id
		verr := schemas.Validate(schemas.MustLoad().Latest(schemas.Raw, "crash"), r, schemas.WindowAt(time.Now(), 0))
		if (err == nil) != (verr == nil) {
			t.Errorf("installation id %q: CheckInstallationID = %v but Validate = %v", id, err, verr)
		}
	}
}

// Every raw schema's example record passes Validate, so the limits fit the data
// each schema describes.
func TestValidateAcceptsEverySchemaExample(t *testing.T) {
	reg := schemas.MustLoad()
	for _, s := range reg.All() {
		if s.Stage != schemas.Raw {
			continue
		}
		rec := map[string]any{}
		for _, f := range s.Fields {
			switch v := f.Example.(type) {
			case string:
				rec[f.Name] = v
			case float64:
				if f.Name == "event_time" {
					rec[f.Name] = time.UnixMilli(int64(v))
				} else {
					rec[f.Name] = int64(v)
				}
			}
		}
		if err := schemas.Validate(s, rec, schemas.WindowAt(time.UnixMilli(1795526345123), 0)); err != nil {
			t.Errorf("%s: the example record is refused: %v", s.File, err)
		}
	}
}
