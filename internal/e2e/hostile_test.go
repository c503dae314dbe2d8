package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/jsonevent"
	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// hostileForms wrap a canary in the identifying text a careless or hostile
// client puts into a field: a path, a person's name, an e-mail address, and
// text that starts or ends with a value of the field's domain, to tempt a
// matcher that looks for a known word inside the value.
var hostileForms = []func(canary string) string{
	func(c string) string { return "/home/dana/Movies/Heat (1995) " + c + ".mkv" },
	func(c string) string { return "Dana's " + c + " bedroom TV" },
	func(c string) string { return "dana." + strings.ToLower(c) + "@example.org" },
	func(c string) string { return "mkv " + c },
	func(c string) string { return "1.42.1+" + c + "@example.org" },
	func(c string) string { return "livetv:channel-7/" + c },
}

// TestHostileValuesInEveryFieldNeverReachTheCleanData posts through the HTTP
// collector, for every event kind, events in which one string field at a time
// (kept fields and event_id included) carries a unique canary inside identifying
// text, and events in which every string field does at once. Each such event is
// either refused by the collector with a 4xx and a reason, or accepted; and no
// canary reaches the clean topic (values, keys, headers) or any ClickHouse
// column, in any case. No time finer than the hour reaches the clean topic's
// record timestamps or any DateTime column either.
func TestHostileValuesInEveryFieldNeverReachTheCleanData(t *testing.T) {
	h := newHarness(t, testenv.Kafka(t), testenv.ClickHouse(t))
	url := h.startCollector()
	h.startEnricher()
	h.startSink()
	h.waitTables()

	reg := schemas.MustLoad()
	base := baseEvents(t, reg)
	var events []map[string]any
	var refusable []bool // whether the event may be refused: its event id or installation id is hostile
	n := 0
	for _, kind := range reg.Kinds() {
		raw := reg.Latest(schemas.Raw, kind)
		var all map[string]any // every string field hostile but the ids
		for i, f := range raw.Fields {
			if raw.Type(i) != schemas.TString {
				continue
			}
			for _, form := range hostileForms {
				n++
				ev := cloneEvent(base[kind])
				ev["event_id"] = uuid.NewString()
				ev[f.Name] = form(fmt.Sprintf("%s-%s-%s-%d", simulate.CanaryPrefix, kind, f.Name, n))
				events = append(events, jsonevent.Event(kind, ev))
				refusable = append(refusable, f.Name == "event_id" || f.Name == "installation_id")
			}
			if f.Name != "event_id" && f.Name != "installation_id" {
				if all == nil {
					all = cloneEvent(base[kind])
					all["event_id"] = uuid.NewString()
				}
				n++
				all[f.Name] = hostileForms[n%len(hostileForms)](fmt.Sprintf("%s-%s-all-%d", simulate.CanaryPrefix, kind, n))
			}
		}
		events = append(events, jsonevent.Event(kind, all))
		refusable = append(refusable, false)
	}

	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+collectorToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var answer struct {
		Accepted, Rejected int
		Errors             []struct {
			Index int
			Error string
		}
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		t.Fatalf("answer %d is not JSON: %s", resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST = %d %s, want 202 with the refused events listed", resp.StatusCode, raw)
	}
	for _, e := range answer.Errors {
		if !refusable[e.Index] {
			t.Errorf("event %d was refused (%s); only a hostile event id or installation id may be", e.Index, e.Error)
		}
		if strings.TrimSpace(e.Error) == "" {
			t.Errorf("event %d was refused without a reason", e.Index)
		}
	}
	refused := 0
	for _, r := range refusable {
		if r {
			refused++
		}
	}
	if answer.Rejected != refused {
		t.Errorf("%d events refused, want the %d with a hostile event id or installation id", answer.Rejected, refused)
	}
	t.Logf("%d hostile events posted: %d accepted, %d refused", len(events), answer.Accepted, answer.Rejected)

	// Every accepted event lands (each base event is kept by the policy).
	h.waitRows(uint64(answer.Accepted), 2*time.Minute)
	if got := h.count("SELECT count() FROM " + h.allEvents()); got != uint64(answer.Accepted) {
		t.Errorf("%d rows landed, want the %d accepted events", got, answer.Accepted)
	}

	rawMsgs := testenv.ReadAll(t, h.brokers, h.topics.Raw)
	c := 0
	for _, m := range rawMsgs {
		if hasCanary(m.Value) || hasCanary(m.Key) {
			c++
		}
	}
	if c != answer.Accepted {
		t.Fatalf("raw topic: %d of %d records carry canaries; the checks below would prove nothing", c, len(rawMsgs))
	}
	clean := testenv.ReadAll(t, h.brokers, h.topics.Clean)
	if len(clean) != answer.Accepted {
		t.Errorf("clean topic holds %d records, want %d", len(clean), answer.Accepted)
	}
	for _, m := range clean {
		if hasCanary(m.Value) || hasCanary(m.Key) {
			t.Errorf("clean record at offset %d of partition %d carries a canary: %q", m.Offset, m.Partition, m.Value)
		}
		for _, hd := range m.Headers {
			if hasCanary(hd.Value) {
				t.Errorf("clean record header %s carries a canary: %q", hd.Key, hd.Value)
			}
		}
	}
	if dl := testenv.ReadAll(t, h.brokers, h.topics.DeadLetter); len(dl) != 0 {
		t.Errorf("dead-letter topic holds %d records, want 0; first: %s", len(dl), stream.Header(dl[0], stream.HeaderError))
	}
	h.assertNoCanaryInClickHouse()
	h.assertNoTimeFinerThanTheHour(clean)
}

// baseEvents returns one valid event of every kind, in native form, that the
// policy keeps (an integration the user enabled).
func baseEvents(t *testing.T, reg *schemas.Registry) map[string]map[string]any {
	t.Helper()
	fleet := simulate.NewFleet(simulate.Config{Installations: 20, Seed: 11})
	out := map[string]map[string]any{}
	for i := 0; len(out) < len(reg.Kinds()); i++ {
		if i > 100000 {
			t.Fatalf("the fleet made no kept event of some kind: %v", out)
		}
		kind, rec, err := fleet.Next()
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := rec["user_enabled"].(bool); ok && !v {
			continue
		}
		if _, ok := out[kind]; !ok {
			out[kind] = rec
		}
	}
	return out
}

func cloneEvent(rec map[string]any) map[string]any {
	out := make(map[string]any, len(rec))
	for k, v := range rec {
		out[k] = v
	}
	return out
}

func hasCanary(b []byte) bool {
	return bytes.Contains(bytes.ToUpper(b), []byte(simulate.CanaryPrefix))
}

// assertNoCanaryInClickHouse looks for a canary, in any letter case, in every
// column of every table of the test database.
func (h *harness) assertNoCanaryInClickHouse() {
	h.t.Helper()
	rows, err := h.store.Conn().Query(context.Background(),
		"SELECT table, name FROM system.columns WHERE database = ?", h.db)
	if err != nil {
		h.t.Fatal(err)
	}
	type column struct{ table, name string }
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.table, &c.name); err != nil {
			h.t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if len(cols) < 20 {
		h.t.Errorf("found only %d columns; the database should have more", len(cols))
	}
	needle := strings.ToLower(simulate.CanaryPrefix)
	for _, c := range cols {
		q := fmt.Sprintf("SELECT count() FROM {db}.`%s` WHERE position(lower(toString(`%s`)), '%s') > 0", c.table, c.name, needle)
		if n := h.count(q); n != 0 {
			h.t.Errorf("ClickHouse %s.%s: %d rows contain a canary", c.table, c.name, n)
		}
	}
}

// assertNoTimeFinerThanTheHour checks that the clean records' Kafka timestamps
// and every DateTime column of the database hold whole hours: nothing tells
// when, within its hour, an event happened or arrived.
func (h *harness) assertNoTimeFinerThanTheHour(clean []kafka.Message) {
	h.t.Helper()
	for _, m := range clean {
		if !m.Time.Equal(m.Time.Truncate(time.Hour)) {
			h.t.Errorf("clean record at offset %d of partition %d has the timestamp %s, finer than the hour", m.Offset, m.Partition, m.Time.UTC().Format(time.RFC3339Nano))
		}
	}
	rows, err := h.store.Conn().Query(context.Background(),
		"SELECT table, name FROM system.columns WHERE database = ? AND type LIKE '%DateTime%' AND table != 'schema_migrations'", h.db)
	if err != nil {
		h.t.Fatal(err)
	}
	var cols [][2]string
	for rows.Next() {
		var c [2]string
		if err := rows.Scan(&c[0], &c[1]); err != nil {
			h.t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if len(cols) == 0 {
		h.t.Fatal("no DateTime column found; the check would prove nothing")
	}
	for _, c := range cols {
		q := fmt.Sprintf("SELECT count() FROM {db}.`%s` WHERE toMinute(`%s`) != 0 OR toSecond(`%s`) != 0", c[0], c[1], c[1])
		if n := h.count(q); n != 0 {
			h.t.Errorf("ClickHouse %s.%s: %d rows hold a time finer than the hour", c[0], c[1], n)
		}
	}
}
