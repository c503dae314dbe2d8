package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// These tests resend events long after their first copy, with the sink's dedup
// index between the copies, and check what analysts would see: each event once
// within the horizon, and after it what the README and API.md promise.

// cleanFeed writes clean records straight into a pipeline's clean topic as the
// enricher does, keyed by event id and placed by stream.EventIDBalancer, so a
// test puts a million records between two copies of an event in seconds.
type cleanFeed struct {
	h    *harness
	w    *kafka.Writer
	sch  *schemas.Schema
	rec  []schemas.Value
	idAt int
	bal  *stream.EventIDBalancer
	rng  *rand.Rand
	sent int64
}

func (h *harness) newCleanFeed(kind string) *cleanFeed {
	h.t.Helper()
	sch := schemas.MustLoad().Latest(schemas.Clean, kind)
	rec := make([]schemas.Value, len(sch.Fields))
	hour := time.Now().UTC().Truncate(time.Hour).UnixMilli()
	for i := range rec {
		switch sch.Type(i) {
		case schemas.TString:
			rec[i].S = "x"
		case schemas.TTimestamp:
			rec[i].N = hour
		}
	}
	parts, err := stream.PartitionCount(context.Background(), h.brokers, h.topics.Clean)
	if err != nil {
		h.t.Fatal(err)
	}
	bal := &stream.EventIDBalancer{Topic: h.topics.Clean, Partitions: parts}
	// The records name the topic, not the writer: EventIDBalancer places only
	// the records of its topic (as the enricher's name theirs), and hands the
	// others to murmur2.
	w, err := stream.NewWriter(stream.WriterConfig{Cluster: h.brokers, Balancer: bal})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { w.Close() })
	return &cleanFeed{h: h, w: w, sch: sch, rec: rec, idAt: sch.Index("event_id"), bal: bal, rng: rand.New(rand.NewPCG(rand.Uint64(), 1))}
}

// idsIn returns n new event ids (random UUIDs) that the clean topic places in
// partition part.
func (f *cleanFeed) idsIn(part, n int) []string {
	out := make([]string, 0, n)
	msg := kafka.Message{Topic: f.h.topics.Clean}
	for len(out) < n {
		var u uuid.UUID
		for i := range u {
			u[i] = byte(f.rng.Uint32())
		}
		u[6], u[8] = u[6]&0x0f|0x40, u[8]&0x3f|0x80 // version 4, RFC 4122 variant
		id := u.String()
		msg.Key = []byte(id)
		if f.bal.Balance(msg) == part {
			out = append(out, id)
		}
	}
	return out
}

// write writes one clean record per id, in order, and returns once Kafka
// acknowledged every one: records written by a later call have higher offsets.
func (f *cleanFeed) write(ids []string) {
	f.h.t.Helper()
	const chunk = 10000
	msgs := make([]kafka.Message, 0, chunk)
	for i := 0; i < len(ids); i += chunk {
		msgs = msgs[:0]
		for _, id := range ids[i:min(i+chunk, len(ids))] {
			f.rec[f.idAt].S = id
			v, err := f.sch.AppendFlat(nil, f.rec)
			if err != nil {
				f.h.t.Fatal(err)
			}
			msgs = append(msgs, kafka.Message{Topic: f.h.topics.Clean, Key: []byte(id), Value: v})
		}
		if err := f.w.WriteMessages(context.Background(), msgs...); err != nil {
			f.h.t.Fatalf("write %d clean records: %v", len(msgs), err)
		}
		f.sent += int64(len(msgs))
	}
}

// rowsOf returns how many rows the event tables hold of each id.
func (h *harness) rowsOf(ids []string) map[string]uint64 {
	h.t.Helper()
	q := fmt.Sprintf("SELECT event_id, count() FROM %s WHERE event_id IN ('%s') GROUP BY event_id",
		strings.ReplaceAll(h.allEvents(), "{db}", h.db), strings.Join(ids, "', '"))
	rows, err := h.store.Conn().Query(context.Background(), q)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var id string
		var n uint64
		if err := rows.Scan(&id, &n); err != nil {
			h.t.Fatal(err)
		}
		out[id] = n
	}
	return out
}

// assertEachOnce checks that the event tables hold n rows of n distinct events,
// event_ids the id of every stored event (a batch loaded again after a sink
// stopped between its events and its ids records them twice, which costs
// nothing), and each of ids exactly once.
func (h *harness) assertEachOnce(n uint64, ids ...[]string) {
	h.t.Helper()
	if got := h.count("SELECT count() FROM " + h.allEvents()); got != n {
		h.t.Errorf("count() over all event tables = %d, want %d", got, n)
	}
	if got := h.count("SELECT uniqExact(event_id) FROM " + h.allEvents()); got != n {
		h.t.Errorf("uniqExact(event_id) over all event tables = %d, want %d", got, n)
	}
	if got := h.count("SELECT uniqExact(kafka_partition, kafka_offset) FROM {db}.event_ids"); got != n {
		h.t.Errorf("event_ids holds %d offsets, want one per stored event, %d", got, n)
	}
	if got := h.count("SELECT count() FROM " + h.allEventsWith("kafka_partition, kafka_offset, event_id") + " WHERE (kafka_partition, kafka_offset, event_id) NOT IN (SELECT kafka_partition, kafka_offset, event_id FROM {db}.event_ids)"); got != 0 {
		h.t.Errorf("%d stored events have no row in event_ids", got)
	}
	for _, set := range ids {
		got := h.rowsOf(set)
		for _, id := range set {
			if got[id] != 1 {
				h.t.Errorf("event %s: %d rows, want 1", id, got[id])
			}
		}
	}
}

// An event resent after more than a million others in its partition, ten
// times what the in-memory window of the past remembered, lands once; and
// again after the sink that stored it was killed mid-load and its partitions
// moved to a new instance with an empty dedup directory, which can know the
// first copies only by rebuilding its index from ClickHouse.
func TestACopyResentAfterAMillionOthersLandsOnce(t *testing.T) {
	const others, more = 1_000_000, 200_000
	start := time.Now()
	h := newHarness(t, testenv.Kafka(t), testenv.ClickHouse(t))
	feed := h.newCleanFeed("integration")
	a := h.startSinkProcess("--dedup-dir", t.TempDir(), "--batch-records", "25000")
	h.waitTables()

	// All in partition 0, so a million records lie between the copies there.
	first := feed.idsIn(0, 4)
	feed.write(first)
	feed.write(feed.idsIn(0, others))
	feed.write(first)
	t.Logf("%d records written in %s", feed.sent, time.Since(start).Round(time.Millisecond))
	if end := h.cleanEnd(); end != feed.sent {
		t.Fatalf("the clean topic holds %d records, want the %d written", end, feed.sent)
	}
	stored := uint64(len(first) + others)
	h.waitRows(stored, 4*time.Minute)
	t.Logf("after a million others: %d rows after %s", stored, time.Since(start).Round(time.Millisecond))
	h.assertEachOnce(stored, first)

	// Kill the sink while it loads the next records; a new instance takes its
	// partitions over.
	second := feed.idsIn(0, 4)
	feed.write(second)
	feed.write(feed.idsIn(0, more))
	testenv.Eventually(t, 2*time.Minute, "the sink loading the next records", func() (bool, string) {
		n := h.count("SELECT count() FROM " + h.allEvents())
		return n >= stored+more/4, fmt.Sprintf("%d rows", n)
	})
	a.kill()
	h.startSinkProcess("--dedup-dir", t.TempDir())
	feed.write(first)
	feed.write(second)
	stored += uint64(len(second) + more)
	h.waitRows(stored, 4*time.Minute)
	t.Logf("after the kill and the move: %d rows after %s", stored, time.Since(start).Round(time.Millisecond))
	h.assertEachOnce(stored, first, second)
}

// The horizon is counted from when the sink indexed the first copy: a copy
// within it is dropped, one more than a horizon and a bucket (a quarter
// horizon) later is stored again, as the README and API.md say.
func TestACopyAfterTheHorizonIsStoredAgain(t *testing.T) {
	const horizon = 6 * time.Second
	h := newHarness(t, testenv.Kafka(t), testenv.ClickHouse(t))
	feed := h.newCleanFeed("integration")
	h.startSink("--dedup-horizon", horizon.String())
	h.waitTables()

	// landed waits until marker has a row. Each copy is followed by a marker of
	// its partition: once the marker landed, the sink has decided on the copy.
	landed := func(marker []string) {
		t.Helper()
		testenv.Eventually(t, time.Minute, "marker "+marker[0], func() (bool, string) {
			n := h.rowsOf(marker)[marker[0]]
			return n > 0, fmt.Sprintf("%d rows", n)
		})
	}
	ids := feed.idsIn(0, 4)
	early, late, never, marker := ids[:1], ids[1:2], ids[2:3], ids[3:]
	feed.write(ids[:3])
	feed.write(marker)
	landed(marker)
	indexed := time.Now() // the first copies were indexed before this

	feed.write(early) // within the horizon: dropped
	marker = feed.idsIn(0, 1)
	feed.write(marker)
	landed(marker)
	if lag := time.Since(indexed); lag >= horizon {
		t.Fatalf("the copy within the horizon took %s to load, longer than the horizon %s: the test proves nothing", lag, horizon)
	}

	time.Sleep(time.Until(indexed.Add(horizon + horizon/4 + time.Second)))
	feed.write(late) // after the horizon and a bucket: stored again
	marker = feed.idsIn(0, 1)
	feed.write(marker)
	landed(marker)

	got := h.rowsOf(ids[:3])
	for id, want := range map[string]uint64{early[0]: 1, late[0]: 2, never[0]: 1} {
		if got[id] != want {
			t.Errorf("event %s: %d rows, want %d", id, got[id], want)
		}
	}
	if n := h.count("SELECT count() FROM " + h.allEvents()); n != 7 {
		t.Errorf("the event tables hold %d rows, want 7: 3 events, 3 markers and the copy resent after the horizon", n)
	}
}

// A sink stopped after a batch's events were stored and before their ids were
// leaves the batch uncommitted. Whoever loads it again skips the stored
// records by their resume points and records their ids on that path, so a
// copy sent later is still dropped: by that sink, and by a new instance that
// rebuilds its index from event_ids alone.
func TestIDsOfEventsStoredWithoutThemAreRecordedWhenTheBatchIsLoadedAgain(t *testing.T) {
	const n = 200
	ctx := context.Background()
	h := newHarness(t, testenv.Kafka(t), testenv.ClickHouse(t))
	feed := h.newCleanFeed("integration")
	setup := h.startSinkProcess("--dedup-dir", t.TempDir())
	h.waitTables()
	setup.kill()

	// The records, and their rows stored as the stopped sink left them: in
	// the event table, not in event_ids, nothing committed in Kafka.
	ids := feed.idsIn(0, n)
	feed.write(ids)
	msgs := testenv.ReadAll(t, h.brokers, h.topics.Clean)
	if len(msgs) != n {
		t.Fatalf("the clean topic holds %d records, want %d", len(msgs), n)
	}
	tb, ok := h.store.Table("integration")
	if !ok {
		t.Fatal("no integration table")
	}
	reg := schemas.MustLoad()
	rows := chstore.NewRows(tb)
	for _, m := range msgs {
		_, rec, err := reg.DecodeFlat(m.Value, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rows.AppendFlat(rec, m.Partition, m.Offset); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.store.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if got := h.count("SELECT count() FROM {db}.event_ids"); got != 0 {
		t.Fatalf("event_ids holds %d rows before any sink recorded them, want 0", got)
	}

	b := h.startSinkProcess("--dedup-dir", t.TempDir())
	testenv.Eventually(t, 2*time.Minute, "the next sink recording the ids of the stored batch", func() (bool, string) {
		got := h.count("SELECT uniqExact(kafka_partition, kafka_offset) FROM {db}.event_ids")
		return got == n, fmt.Sprintf("%d of %d offsets", got, n)
	})
	h.assertEachOnce(n, ids)

	// Copies at new offsets, to that sink: dropped.
	marker := feed.idsIn(0, 1)
	feed.write(ids)
	feed.write(marker)
	h.waitRows(n+1, time.Minute)
	h.assertEachOnce(n+1, ids, marker)

	// And to a new instance with an empty directory, which knows the first
	// copies only from event_ids.
	b.kill()
	h.startSinkProcess("--dedup-dir", t.TempDir())
	marker = feed.idsIn(0, 1)
	feed.write(ids)
	feed.write(marker)
	h.waitRows(n+2, time.Minute)
	h.assertEachOnce(n+2, ids, marker)
}
