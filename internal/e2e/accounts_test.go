package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/accounts"
	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// The pipeline runs end to end with every stage as its own account — the
// collector, the simulator, the enricher, the sink (as veil_sink in
// ClickHouse, migrations included) and the dead-letter replay — granted exactly
// accounts.KafkaRights on this test's topics and groups; and each account is
// refused what its role does not need.
func TestEachAccountRunsItsStageAndIsRefusedTheRest(t *testing.T) {
	admin := testenv.Kafka(t)
	testenv.Accounts(t)
	// A ClickHouse of the test's own: veil_sink may write only database veil,
	// which on the shared server other runs use.
	server := testenv.PrivateClickHouse(t)
	h := newHarness(t, admin, server.ClickHouse())
	h.db, h.ch.Database = "veil", "veil"
	sinkCH := testenv.ClickHouseAs(t, server.Addr, "veil_sink")
	sinkCH.Database = "veil"
	h.sinkCH = &sinkCH

	replayGroup := testenv.Unique("replay")
	rights := accounts.KafkaRights(h.topics, accounts.Groups{Enricher: h.groups["enricher"], Sink: h.groups["sink"], Replay: replayGroup})
	ctx := context.Background()
	if err := accounts.Grant(ctx, admin, rights); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := accounts.Revoke(context.Background(), admin, rights); err != nil {
			t.Logf("revoke the test's ACLs: %v", err)
		}
	})
	as := func(user string) stream.Cluster { return testenv.KafkaAs(t, admin.Brokers, user) }
	collector, simulator, enr, snk, replay :=
		as(accounts.KafkaCollector), as(accounts.KafkaSimulator), as(accounts.KafkaEnricher), as(accounts.KafkaSink), as(accounts.KafkaReplay)
	h.as = map[string]stream.Cluster{"collector": collector, "simulate": simulator, "enricher": enr, "sink": snk}

	// The pipeline, each stage as its role.
	h.startEnricher()
	h.startSink()
	h.waitTables() // the sink migrated as veil_sink
	const simulated = 2000
	h.simulate(simulated, 0, 11)
	url := h.startCollector()
	status, body := testenv.Request(t, http.MethodPost, url+"/v1/events", collectorToken, collectorEvent(time.Now()))
	if status != http.StatusAccepted {
		t.Fatalf("POST /v1/events as veil-collector = %d %s, want 202", status, body)
	}
	h.setConsent(url, "srv-accounts-test", "crash") // writes the consent topic
	status, body = testenv.Request(t, http.MethodGet, url+"/v1/consent/srv-accounts-test", operatorToken, "")
	if status != http.StatusOK || !strings.Contains(body, `"crash"`) {
		t.Errorf("GET consent as veil-collector (it follows the consent topic) = %d %s", status, body)
	}
	h.waitRows(simulated+1, 2*time.Minute)
	h.assertExactlyOnce(simulated + 1)

	// Dead letters: the sink (veil-sink) dead-letters a record it cannot load;
	// the replay (veil-replay) reads it and writes it back to the clean topic,
	// where the sink dead-letters it once more.
	w, err := stream.NewWriter(stream.WriterConfig{Cluster: admin, Topic: h.topics.Clean})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("poison"), Value: []byte("not avro")}); err != nil {
		t.Fatal(err)
	}
	waitDeadLetters(t, admin, h.topics.DeadLetter, 1)
	var rcfg stream.ReplayConfig
	testenv.Configure(t, rcfg.Register, append(testenv.KafkaArgs(replay, h.topics), "--group", replayGroup, "--stage", "sink", "--idle", "10s")...)
	st, err := stream.Replay(ctx, rcfg, slog.New(slog.DiscardHandler))
	if err != nil || st.Replayed != 1 {
		t.Fatalf("replay as veil-replay = %v, %v; want the 1 dead letter replayed", st, err)
	}
	waitDeadLetters(t, admin, h.topics.DeadLetter, 2)

	// Refusals, each next to what the same account may do.
	tp := h.topics
	for _, c := range []struct {
		name string
		err  error
	}{
		{"the sink reads raw events", fetch(snk, tp.Raw)},
		{"the sink reads dead letters", fetch(snk, tp.DeadLetter)},
		{"the collector reads raw events", fetch(collector, tp.Raw)},
		{"the collector reads clean events", fetch(collector, tp.Clean)},
		{"the collector reads dead letters", fetch(collector, tp.DeadLetter)},
		{"the collector consumes in a group", joinGroup(collector, h.groups["enricher"], tp.Consent)},
		{"the simulator reads raw events", fetch(simulator, tp.Raw)},
		{"the simulator writes opt-outs", write(simulator, tp.Consent)},
		{"the enricher writes raw events", write(enr, tp.Raw)},
		{"the enricher reads clean events", fetch(enr, tp.Clean)},
		{"the enricher consumes in the sink's group", joinGroup(enr, h.groups["sink"], tp.Raw)},
		{"the replay reads clean events", fetch(replay, tp.Clean)},
		{"the replay reads raw events", fetch(replay, tp.Raw)},
		{"the replay writes opt-outs", write(replay, tp.Consent)},
		{"the sink writes clean events", write(snk, tp.Clean)},
		{"the sink creates a topic", createTopic(snk, tp.Raw+"-sink")},
		{"the enricher creates a topic", createTopic(enr, tp.Raw+"-enricher")},
	} {
		t.Logf("%s: %v", c.name, c.err)
		if !refused(c.err) {
			t.Errorf("%s: %v, want an authorization error", c.name, c.err)
		}
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"the enricher reads raw events", fetch(enr, tp.Raw)},
		{"the sink reads clean events", fetch(snk, tp.Clean)},
		{"the collector reads opt-outs", fetch(collector, tp.Consent)},
		{"the replay reads dead letters", fetch(replay, tp.DeadLetter)},
	} {
		if c.err != nil {
			t.Errorf("%s: %v, want it allowed (or the refusals above prove nothing)", c.name, c.err)
		}
	}
	if err := accounts.CheckLogin(ctx, admin.Brokers, accounts.KafkaSink, "not-the-password"); !errors.Is(err, kafka.SASLAuthenticationFailed) {
		t.Errorf("veil-sink with a wrong password: %v, want SASL authentication failed", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := stream.Ping(stream.Cluster{Brokers: admin.Brokers})(pctx); err == nil {
		t.Error("a client without credentials was answered")
	}

	// ClickHouse: analysts read and nothing else; the sink touches only veil.
	analyst := openCH(t, testenv.ClickHouseAs(t, server.Addr, "veil_analyst")).Conn()
	if n := queryCount(t, analyst, "SELECT count() FROM veil.playback"); n == 0 {
		t.Error("the analyst reads no playback rows: the refusals below would prove nothing")
	}
	sink := openCH(t, sinkCH).Conn()
	wrong := testenv.ClickHouseAs(t, server.Addr, "veil_analyst")
	wrong.Password = "not-the-password"
	var ex *clickhouse.Exception
	if _, err := chstore.Open(ctx, wrong, schemas.MustLoad()); !errors.As(err, &ex) {
		t.Errorf("veil_analyst with a wrong password: %v, want ClickHouse to refuse it", err)
	}
	adminCH := h.store.Conn()
	if err := adminCH.Exec(ctx, "CREATE DATABASE IF NOT EXISTS other"); err != nil {
		t.Fatal(err)
	}
	if err := adminCH.Exec(ctx, "CREATE TABLE IF NOT EXISTS other.t (a UInt8) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		err  error
		code int32 // ClickHouse's error code: 164 READONLY, 291 DATABASE_ACCESS_DENIED
	}{
		{"the analyst inserts", analyst.Exec(ctx, "INSERT INTO veil.playback (event_id) VALUES ('x')"), 164},
		{"the analyst drops a table", analyst.Exec(ctx, "DROP TABLE veil.playback"), 164},
		{"the analyst drops a partition", analyst.Exec(ctx, "ALTER TABLE veil.playback DROP PARTITION 197001"), 164},
		{"the analyst creates a table", analyst.Exec(ctx, "CREATE TABLE veil.mine (a UInt8) ENGINE = Memory"), 164},
		{"the analyst reads another database", analyst.Exec(ctx, "SELECT count() FROM other.t"), 291},
		{"the sink reads another database", sink.Exec(ctx, "SELECT count() FROM other.t"), 291},
		{"the sink inserts into another database", sink.Exec(ctx, "INSERT INTO other.t (a) VALUES (1)"), 291},
		{"the sink drops another database's table", sink.Exec(ctx, "DROP TABLE other.t"), 291},
		{"the sink creates a database", sink.Exec(ctx, "CREATE DATABASE veil_elsewhere"), 291},
	} {
		if !errors.As(c.err, &ex) || ex.Code != c.code {
			t.Errorf("%s: %v, want ClickHouse error %d", c.name, c.err, c.code)
		}
	}
	if n := queryCount(t, h.store.Conn(), "SELECT count() FROM veil.playback_daily"); n == 0 {
		t.Error("the rollups are empty: the sink's migrations did not create them")
	}
}

// collectorEvent is one playback event as a device posts it.
func collectorEvent(now time.Time) string {
	return fmt.Sprintf(`{"events": [{"kind": "playback", "event_id": "%s", "event_time": %d,
	 "installation_id": "srv-accounts-test", "device_type": "tv", "platform": "android", "player": "Veil for Android TV",
	 "app_version": "1.42.1", "media_source": "local", "media_type": "video", "container": "mkv", "duration_ms": 7862000,
	 "bitrate_kbps": 14320, "size_bytes": 14075432960, "playback_event": "stop", "played_ms": 5121000, "decision": "direct_play"}]}`,
		uuid.NewString(), now.UnixMilli())
}

// refused reports whether err is Kafka refusing an operation to the account.
// A topic the account may not even describe is hidden from it: the broker
// leaves it out of the account's metadata, and kafka-go's writer then calls
// it unknown (every topic here exists: the pipeline ran on them).
func refused(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && !refused(e) {
				return false
			}
		}
		return we.Count() > 0
	}
	return errors.Is(err, kafka.TopicAuthorizationFailed) || errors.Is(err, kafka.GroupAuthorizationFailed) ||
		errors.Is(err, kafka.ClusterAuthorizationFailed) || errors.Is(err, kafka.UnknownTopicOrPartition)
}

// fetch reads partition 0 of topic from its first offset, as c.
func fetch(c stream.Cluster, topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.Client(10*time.Second).Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: 0, Offset: kafka.FirstOffset, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	return resp.Error
}

// write sends one record to topic with the pipeline's writer, as c.
func write(c stream.Cluster, topic string) error {
	w, err := stream.NewWriter(stream.WriterConfig{Cluster: c, Topic: topic})
	if err != nil {
		return err
	}
	w.MaxAttempts = 1
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte("refused")})
}

// joinGroup asks to join group as a consumer of topic, as c.
func joinGroup(c stream.Cluster, group, topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.Client(10*time.Second).JoinGroup(ctx, &kafka.JoinGroupRequest{
		GroupID: group, SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second, ProtocolType: "consumer",
		Protocols: []kafka.GroupProtocol{{Name: "range", Metadata: kafka.GroupProtocolSubscription{Topics: []string{topic}}}},
	})
	if err != nil {
		return err
	}
	return resp.Error
}

// createTopic creates topic as c.
func createTopic(c stream.Cluster, topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.Client(10*time.Second).CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: -1}}})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func waitDeadLetters(t *testing.T, admin stream.Cluster, topic string, n int) {
	t.Helper()
	testenv.Eventually(t, time.Minute, fmt.Sprintf("%d dead letters", n), func() (bool, string) {
		got := len(testenv.ReadAll(t, admin, topic))
		return got >= n, strconv.Itoa(got)
	})
}

func openCH(t *testing.T, o chstore.Options) *chstore.Store {
	t.Helper()
	o.Database = "veil"
	st, err := chstore.Open(context.Background(), o, schemas.MustLoad())
	if err != nil {
		t.Fatalf("connect to ClickHouse as %s: %v", o.User, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func queryCount(t *testing.T, conn driver.Conn, q string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
