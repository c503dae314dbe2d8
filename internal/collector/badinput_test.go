package collector

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// badCase is one row of the bad input table: a request and the answer it must get.
type badCase struct {
	file        string                  // fixture in testdata/bad
	body        func(testing.TB) []byte // or a body made by the test (too big to commit)
	contentType string                  // default application/json
	encoding    string                  // Content-Encoding
	method      string                  // default POST
	chunked     bool                    // send without Content-Length
	status      int
	want        string         // substring of the batch error (the body, for non-JSON answers)
	events      map[int]string // index → substring of that event's error
	accepted    int
}

// badInputs is the table. Every bad input the issue lists has a row: truncated
// Avro, wrong magic, unknown fingerprint, wrong types, missing required fields,
// oversized strings, invalid UTF-8, negative durations, far-future timestamps,
// huge batches, non-JSON and the wrong content type. Mixed rows show what is
// accepted next to what is not.
var badInputs = map[string]badCase{
	// The body as a whole.
	"not JSON":                     {file: "not-json.json", status: 400, want: "body is not JSON"},
	"truncated JSON":               {file: "truncated.json", status: 400, want: "body is not JSON: unexpected EOF"},
	"a top-level array":            {file: "top-level-array.json", status: 400, want: `body must be a JSON object {"events": [...]}, got an array`},
	"events is not an array":       {file: "events-not-an-array.json", status: 400, want: `"events" must be an array, got an object`},
	"no events":                    {file: "no-events.json", status: 400, want: "no events"},
	"an unknown top-level field":   {file: "unknown-top-level-field.json", status: 400, want: `unknown field "token"`},
	"data after the object":        {file: "trailing-data.json", status: 400, want: "data after the top-level object"},
	"empty JSON body":              {body: func(testing.TB) []byte { return nil }, status: 400, want: "empty body"},
	"wrong content type":           {file: "good.json", contentType: "text/plain", status: 415, want: `unsupported content type "text/plain"`},
	"form content type":            {file: "good.json", contentType: "application/x-www-form-urlencoded", status: 415, want: "unsupported content type"},
	"no content type":              {file: "good.json", contentType: "-", status: 415, want: `unsupported content type ""`},
	"unsupported content encoding": {file: "good.json", encoding: "br", status: 415, want: `unsupported content encoding "br"`},
	"gzip header on a plain body":  {file: "good.json", encoding: "gzip", status: 400, want: "body is not gzip"},
	"wrong method":                 {file: "good.json", method: http.MethodGet, status: 405, want: "Method Not Allowed"},
	"PUT instead of POST":          {file: "good.json", method: http.MethodPut, status: 405, want: "Method Not Allowed"},
	"huge JSON batch": {body: func(t testing.TB) []byte { return jsonBatch(t, nativeEvents(t, 5001, 20)) },
		status: 413, want: "batch of 5001 events exceeds --max-events (5000)"},
	"body over --max-body": {body: func(testing.TB) []byte { return bytes.Repeat([]byte(" "), 4<<20+1) },
		status: 413, want: "body of 4194305 bytes exceeds --max-body (4194304 bytes)"},
	"chunked body over --max-body": {body: func(testing.TB) []byte { return bytes.Repeat([]byte(" "), 4<<20+1) }, chunked: true,
		status: 413, want: "body exceeds --max-body (4194304 bytes)"},
	"gzip bomb": {body: gzipBomb, encoding: "gzip", status: 413, want: "gzip body inflates beyond --max-decompressed (16777216 bytes)"},

	// Events, one by one.
	"unknown kind": {file: "unknown-kind.json", status: 400, events: map[int]string{0: `unknown event kind "playbak" (known: `}},
	"missing kind": {file: "missing-kind.json", status: 400, events: map[int]string{0: "missing kind (one of "}},
	"events not objects": {file: "events-not-objects.json", status: 400, events: map[int]string{0: "event must be a JSON object, got a number",
		1: "event must be a JSON object, got a string", 2: "event must be a JSON object, got null", 3: "event must be a JSON object, got an array"}},
	"wrong types": {file: "wrong-types.json", status: 400, events: map[int]string{
		0: "field duration_ms: want long, got a string",
		1: "field bitrate_kbps: want an integer (int), got 14320.5",
		2: "field event_time: want timestamp-millis (epoch milliseconds), got a string",
		3: "field platform: want string, got a number",
		4: "field device_type: want enum, got a number",
		5: "field container: want string, got null",
		6: "field title: want string, got an object",
		7: "field bitrate_kbps: 3000000000 is out of range for int",
		8: "field size_bytes: 99999999999999999999 is out of range for long"}},
	"missing required fields": {file: "missing-required-fields.json", status: 400, events: map[int]string{
		0: "missing required field platform", 1: "missing required fields duration_ms, size_bytes, decision",
		2: "missing required field installation_id"}},
	"an unknown field":     {file: "unknown-field.json", status: 400, events: map[int]string{0: `unknown field "email" for veil.raw.v1.Playback`}},
	"an unknown enum name": {file: "bad-enum-symbol.json", status: 400, events: map[int]string{0: `field device_type: "toaster" is not one of tv, streaming_stick`}},
	"oversized strings": {file: "oversized-string.json", status: 400, events: map[int]string{
		0: "title is 5000 bytes, limit 4096", 1: "event_id must be 1-128 bytes, got 217"}},
	"invalid UTF-8":         {file: "invalid-utf8.json", status: 202, accepted: 1, events: map[int]string{0: "event is not valid UTF-8"}},
	"negative numbers":      {file: "negative-numbers.json", status: 400, events: map[int]string{0: "duration_ms is negative (-1)", 1: "bitrate_kbps is negative (-14320)", 2: "played_ms is negative (-5)"}},
	"far-future timestamp":  {file: "far-future-timestamp.json", status: 400, events: map[int]string{0: "event_time 3000-01-01T00:00:00Z is more than 24h0m0s in the future"}},
	"timestamp before 1970": {file: "before-1970.json", status: 400, events: map[int]string{0: "event_time 1969-12-31T00:00:00Z is older than"}},
	"an event id that is not a UUID": {file: "event-id-not-a-uuid.json", status: 400, events: map[int]string{
		0: "event_id must be a UUID", 1: "event_id must be a UUID"}},
	"an installation id that is not an id": {file: "installation-id-not-an-id.json", status: 400, events: map[int]string{
		0: "installation_id may hold only letters, digits", 1: "installation_id may hold only letters, digits"}},
	"empty installation id": {file: "empty-installation-id.json", status: 400, events: map[int]string{0: "installation_id must be 1-128 bytes, got 0"}},
	"mixed good and bad":    {file: "mixed.json", status: 202, accepted: 2, events: map[int]string{1: `field media_type: "hologram" is not one of video, music, photo`}},

	// Avro framing and records.
	"Avro: frame longer than the body":  {file: "avro-truncated-frame.avro", contentType: ContentTypeAvro, status: 400, want: "truncated frame 1 at byte"},
	"Avro: length prefix cut short":     {file: "avro-short-length.avro", contentType: ContentTypeAvro, status: 400, want: "2 bytes left, a length takes 4"},
	"Avro: empty body":                  {body: func(testing.TB) []byte { return nil }, contentType: ContentTypeAvro, status: 400, want: "empty body"},
	"Avro: truncated record":            {file: "avro-truncated-record.avro", contentType: ContentTypeAvro, status: 400, events: map[int]string{0: "malformed Avro body"}},
	"Avro: wrong magic":                 {file: "avro-wrong-magic.avro", contentType: ContentTypeAvro, status: 400, events: map[int]string{0: "record is not Avro single-object encoded"}},
	"Avro: empty record":                {file: "avro-empty-record.avro", contentType: ContentTypeAvro, status: 400, events: map[int]string{0: "record is not Avro single-object encoded"}},
	"Avro: unknown fingerprint":         {file: "avro-unknown-fingerprint.avro", contentType: ContentTypeAvro, status: 400, events: map[int]string{0: "unknown schema fingerprint: 0123456789abcdef"}},
	"Avro: a clean record":              {file: "avro-clean-record.avro", contentType: ContentTypeAvro, status: 400, events: map[int]string{0: "is the clean schema veil.clean.v1.Playback; the collector takes raw events"}},
	"Avro: trailing bytes in the frame": {file: "avro-trailing-bytes.avro", contentType: ContentTypeAvro, status: 400, events: map[int]string{0: "1 trailing bytes"}},
	"Avro: invalid UTF-8":               {file: "avro-invalid-utf8.avro", contentType: ContentTypeAvro, status: 400, events: map[int]string{0: "title is not valid UTF-8"}},
	"Avro: negative duration":           {file: "avro-negative-duration.avro", contentType: ContentTypeAvro, status: 400, events: map[int]string{0: "duration_ms is negative (-5)"}},
	"Avro: far-future timestamp":        {file: "avro-far-future.avro", contentType: ContentTypeAvro, status: 400, events: map[int]string{0: "is more than 24h0m0s in the future"}},
	"Avro: mixed good and bad":          {file: "avro-mixed.avro", contentType: ContentTypeAvro, status: 202, accepted: 2, events: map[int]string{1: "record is not Avro single-object encoded"}},
	"huge Avro batch": {body: func(t testing.TB) []byte {
		rec := encodeRaw(t, fixtureRecord(t, testID("good-huge")))
		frames := make([][]byte, 5001)
		for i := range frames {
			frames[i] = rec
		}
		return avroBatch(frames...)
	}, contentType: ContentTypeAvro, status: 413, want: "batch has more than --max-events (5000) records"},
}

// The events the table expects in the raw topic, by id.
var badInputsAccepted = []string{testID("good-mixed-1"), testID("good-mixed-3"), testID("good-utf8-neighbour"), testID("good-avro-1"), testID("good-avro-3")}

// Every bad input gets its status and a reason naming what is wrong; the raw topic
// holds exactly the events the table says are accepted, and nothing is
// dead-lettered.
func TestBadInputTable(t *testing.T) {
	if *update {
		writeAvroFixtures(t)
	}
	// The fixtures carry fixed event times from 2023; the age limit has its own
	// test (TestEventsOutsideTheTimeWindowAreRefused).
	ts, brokers := kafkaServer(t, "--max-event-age", "87600h")
	names := make([]string, 0, len(badInputs))
	for name := range badInputs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		tc := badInputs[name]
		t.Run(name, func(t *testing.T) {
			body := fixtureBody(t, tc)
			ct := tc.contentType
			switch ct {
			case "":
				ct = ContentTypeJSON
			case "-":
				ct = ""
			}
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			var rd io.Reader = bytes.NewReader(body)
			if tc.chunked {
				rd = io.MultiReader(rd) // hides the length: sent chunked
			}
			req, _ := http.NewRequest(method, ts.URL+"/v1/events", rd)
			req.Header.Set("Authorization", "Bearer "+tokenA)
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("%d %s", resp.StatusCode, truncate(strings.TrimSpace(string(raw)), 400))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.status, raw)
			}
			if resp.StatusCode == http.StatusMethodNotAllowed {
				if !strings.Contains(string(raw), tc.want) || resp.Header.Get("Allow") != "POST" {
					t.Errorf("405 body %q Allow %q, want %q and Allow: POST", raw, resp.Header.Get("Allow"), tc.want)
				}
				return
			}
			var got response
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("answer is not JSON: %v: %s", err, raw)
			}
			if tc.want != "" && !strings.Contains(got.Error, tc.want) {
				t.Errorf("error %q, want it to contain %q", got.Error, tc.want)
			}
			if got.Accepted != tc.accepted || got.Rejected != len(tc.events) {
				t.Errorf("accepted %d rejected %d, want %d and %d", got.Accepted, got.Rejected, tc.accepted, len(tc.events))
			}
			seen := map[int]bool{}
			for _, e := range got.Errors {
				want, ok := tc.events[e.Index]
				switch {
				case !ok:
					t.Errorf("event %d rejected (%s), want it accepted", e.Index, e.Error)
				case !strings.Contains(e.Error, want):
					t.Errorf("event %d: error %q, want it to contain %q", e.Index, e.Error, want)
				}
				seen[e.Index] = true
			}
			for i, want := range tc.events {
				if !seen[i] {
					t.Errorf("event %d not reported rejected, want %q", i, want)
				}
			}
		})
	}
	var ids []string
	for id := range rawRecords(t, brokers, ts.Topics.Raw) {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	want := slices.Clone(badInputsAccepted)
	sort.Strings(want)
	if !slices.Equal(ids, want) {
		t.Errorf("raw topic holds %v, want exactly %v", ids, want)
	}
	if dl := testenv.ReadAll(t, brokers, ts.Topics.DeadLetter); len(dl) != 0 {
		t.Errorf("dead-letter topic holds %d records, want 0", len(dl))
	}
}

func fixtureBody(t testing.TB, tc badCase) []byte {
	t.Helper()
	if tc.body != nil {
		return tc.body(t)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "bad", tc.file))
	if err != nil {
		t.Fatalf("%v (Avro fixtures are written by go test -run TestBadInputTable -update)", err)
	}
	return b
}

// gzipBomb is 17 MiB of JSON white space in 17 KiB of gzip.
func gzipBomb(t testing.TB) []byte {
	return gzipped(t, append(bytes.Repeat([]byte(" "), 17<<20), "{}"...))
}

// fixtureRecord is the native form of the first event of good.json, with an id.
func fixtureRecord(t testing.TB, id string) map[string]any {
	t.Helper()
	var batch struct{ Events []json.RawMessage }
	if err := json.Unmarshal(fixtureBody(t, badCase{file: "good.json"}), &batch); err != nil {
		t.Fatal(err)
	}
	ms, err := members(batch.Events[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	js, err := newJSONSchema(schemas.MustLoad().Latest(schemas.Raw, "playback"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := js.decode(ms)
	if err != nil {
		t.Fatal(err)
	}
	rec["event_id"] = id
	return rec
}

// writeAvroFixtures (re)writes the binary fixtures from good.json.
func writeAvroFixtures(t *testing.T) {
	reg := schemas.MustLoad()
	raw := reg.Latest(schemas.Raw, "playback")
	enc := func(rec map[string]any) []byte {
		b, err := raw.Encode(nil, rec)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	with := func(id string, k string, v any) []byte {
		rec := fixtureRecord(t, id)
		rec[k] = v
		return enc(rec)
	}
	good := enc(fixtureRecord(t, testID("bad-avro-whole-batch")))
	wrongMagic := append([]byte{0xC3, 0x02}, good[2:]...)
	unknownFP := binary.LittleEndian.AppendUint64([]byte{0xC3, 0x01}, 0x0123456789abcdef)
	unknownFP = append(unknownFP, good[10:]...)
	clean := reg.Latest(schemas.Clean, "playback")
	cleanRec, err := zeroRecord(clean)
	if err != nil {
		t.Fatal(err)
	}
	cleanBytes, err := clean.Encode(nil, cleanRec)
	if err != nil {
		t.Fatal(err)
	}
	frame := func(b []byte) []byte { return avroBatch(b) }
	files := map[string][]byte{
		"avro-truncated-frame.avro":     append(append(frame(good), binary.BigEndian.AppendUint32(nil, 500)...), 1, 2, 3),
		"avro-short-length.avro":        append(frame(good), 0, 0),
		"avro-truncated-record.avro":    frame(good[:len(good)/2]),
		"avro-wrong-magic.avro":         frame(wrongMagic),
		"avro-empty-record.avro":        frame(nil),
		"avro-unknown-fingerprint.avro": frame(unknownFP),
		"avro-clean-record.avro":        frame(cleanBytes),
		"avro-trailing-bytes.avro":      frame(append(with(testID("bad-avro-trailing"), "title", "x"), 0)),
		"avro-invalid-utf8.avro":        frame(with(testID("bad-avro-utf8"), "title", "Caf\xe9\xff")),
		"avro-negative-duration.avro":   frame(with(testID("bad-avro-negative"), "duration_ms", int64(-5))),
		"avro-far-future.avro":          frame(with(testID("bad-avro-future"), "event_time", time.UnixMilli(32503680000000))),
		"avro-mixed.avro":               avroBatch(enc(fixtureRecord(t, testID("good-avro-1"))), wrongMagic, enc(fixtureRecord(t, testID("good-avro-3")))),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join("testdata", "bad", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// zeroRecord is a native record of s with every field at its zero value.
func zeroRecord(s *schemas.Schema) (map[string]any, error) {
	var doc struct {
		Fields []struct {
			Name string          `json:"name"`
			Type json.RawMessage `json:"type"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(s.Codec.Schema()), &doc); err != nil {
		return nil, err
	}
	rec := map[string]any{}
	for _, f := range doc.Fields {
		var prim string
		var c struct {
			Type, LogicalType string
			Symbols           []string
		}
		if json.Unmarshal(f.Type, &prim) != nil {
			if err := json.Unmarshal(f.Type, &c); err != nil {
				return nil, err
			}
			prim = c.Type + "/" + c.LogicalType
		}
		switch prim {
		case "string":
			rec[f.Name] = ""
		case "int":
			rec[f.Name] = int32(0)
		case "long":
			rec[f.Name] = int64(0)
		case "boolean":
			rec[f.Name] = false
		case "long/timestamp-millis":
			rec[f.Name] = time.UnixMilli(0)
		case "enum/":
			rec[f.Name] = c.Symbols[0]
		default:
			rec[f.Name] = nil
		}
	}
	return rec, nil
}
