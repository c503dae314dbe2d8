// Package testenv connects integration tests to the real Kafka broker and
// ClickHouse server that scripts/test starts, and to Avro Java, the reference
// implementation of Avro. A test asks for a service; when the variable naming it
// (VEIL_KAFKA, VEIL_CLICKHOUSE, VEIL_AVRO_JAVA) is unset the test is skipped
// visibly, except under CI=true, where it fails: CI must never pass by skipping.
// A service that is named but does not answer always fails the test.
//
// Accounts: when VEIL_SECRETS names the directory of the accounts' password
// files (scripts/secrets; scripts/test sets it), tests connect as the
// administrators — Kafka's super user veil-admin, ClickHouse's default — and
// hand binaries the same accounts through --kafka-user and
// --kafka-password-file (KafkaArgs) or --clickhouse-user and
// --clickhouse-password-file (ClickHouseArgs): files, never passwords, in
// argv. Without VEIL_SECRETS the services are taken to have no accounts
// (PLAINTEXT Kafka, ClickHouse's default user without a password).
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/stream"
)

func need(t testing.TB, env, what string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: this test needs %s; run it through scripts/test, which starts the services", env, what)
		}
		t.Skipf("%s not set: skipping the %s integration test (scripts/test sets it)", env, what)
	}
	conn, err := net.DialTimeout("tcp", strings.Split(v, ",")[0], 3*time.Second)
	if err != nil {
		t.Fatalf("%s=%s does not answer: %v (start it with scripts/%s start)", env, v, err, strings.ToLower(what))
	}
	conn.Close()
	return v
}

// Kafka returns the test Kafka as its administrator.
func Kafka(t testing.TB) stream.Cluster {
	t.Helper()
	return KafkaAs(t, strings.Split(need(t, "VEIL_KAFKA", "Kafka"), ","), AdminKafkaUser)
}

// Accounts is for tests of the accounts themselves: without VEIL_SECRETS they
// are skipped, and under CI=true they fail.
func Accounts(t testing.TB) {
	t.Helper()
	if os.Getenv("VEIL_SECRETS") != "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("VEIL_SECRETS is not set: this test checks the accounts; run it through scripts/test")
	}
	t.Skip("VEIL_SECRETS not set: skipping a test of the accounts (scripts/test sets it)")
}

// AdminKafkaUser is the Kafka super user of scripts/kafka.
const AdminKafkaUser = "veil-admin"

// KafkaAs returns the brokers with the credentials of user (from VEIL_SECRETS);
// without VEIL_SECRETS, the brokers without authentication.
func KafkaAs(t testing.TB, brokers []string, user string) stream.Cluster {
	t.Helper()
	if os.Getenv("VEIL_SECRETS") == "" {
		return stream.Cluster{Brokers: brokers}
	}
	c, err := stream.NewCluster(brokers, user, password(t, "kafka-"+user))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ClickHouse returns how to reach the test ClickHouse as its administrator
// (Database left empty).
func ClickHouse(t testing.TB) chstore.Options {
	t.Helper()
	return ClickHouseAs(t, need(t, "VEIL_CLICKHOUSE", "ClickHouse"), "default")
}

// ClickHouseAs returns how to reach the ClickHouse at addr as user, with its
// password from VEIL_SECRETS (none without VEIL_SECRETS).
func ClickHouseAs(t testing.TB, addr, user string) chstore.Options {
	t.Helper()
	o := chstore.Options{Addr: addr, User: user}
	if os.Getenv("VEIL_SECRETS") != "" {
		o.Password = password(t, "clickhouse-"+user)
	}
	return o
}

// SecretFile is the file of an account's password (scripts/secrets names
// them: kafka-veil-sink, clickhouse-default...); "" without VEIL_SECRETS.
func SecretFile(account string) string {
	dir := os.Getenv("VEIL_SECRETS")
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, account+".password")
}

func password(t testing.TB, account string) string {
	t.Helper()
	b, err := os.ReadFile(SecretFile(account))
	if err != nil {
		t.Fatalf("the password of %s: %v (scripts/kafka and scripts/clickhouse create the accounts of VEIL_SECRETS)", account, err)
	}
	return strings.TrimSpace(string(b))
}

// Unique returns prefix plus a random suffix, safe in topic and database names.
func Unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// Topics returns fresh topic names for one test and creates them. They are
// deleted when the test ends (DeleteAtEnd).
func Topics(t testing.TB, c stream.Cluster, partitions int) stream.Topics {
	t.Helper()
	id := Unique("t")
	tp := stream.Topics{Raw: id + ".raw", Clean: id + ".clean", Consent: id + ".consent", DeadLetter: id + ".deadletter"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := stream.EnsureTopics(ctx, c, tp.Specs(partitions)); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	DeleteAtEnd(t, c, tp)
	return tp
}

// DeleteAtEnd deletes a test's topics when it ends, unless it failed and
// VEIL_KEEP_FAILED is set: a broker that kept every test's topics would take
// minutes to start.
func DeleteAtEnd(t testing.TB, c stream.Cluster, tp stream.Topics) {
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("VEIL_KEEP_FAILED") != "" {
			t.Logf("kept topics %s for inspection", tp.Raw)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		client := c.Client(30 * time.Second)
		res, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{tp.Raw, tp.Clean, tp.Consent, tp.DeadLetter}})
		if err == nil {
			for _, e := range res.Errors {
				err = errors.Join(err, e)
			}
		}
		if err != nil {
			t.Logf("delete topics of %s: %v", tp.Raw, err) // leftovers cost broker start-up time, not correctness
		}
	})
}

// KafkaArgs are the command-line flags that point a binary's config at the
// cluster, as its user, and at topics.
func KafkaArgs(c stream.Cluster, tp stream.Topics) []string {
	args := []string{"--brokers", strings.Join(c.Brokers, ","), "--topic-raw", tp.Raw, "--topic-clean", tp.Clean,
		"--topic-consent", tp.Consent, "--topic-deadletter", tp.DeadLetter}
	if c.User != "" {
		args = append(args, "--kafka-user", c.User, "--kafka-password-file", SecretFile("kafka-"+c.User))
	}
	return args
}

// ClickHouseArgs are the command-line flags that point the sink at o's server,
// as o's user, and database.
func ClickHouseArgs(o chstore.Options) []string {
	args := []string{"--clickhouse-addr", o.Addr}
	if o.Database != "" {
		args = append(args, "--clickhouse-db", o.Database)
	}
	if o.User != "" {
		args = append(args, "--clickhouse-user", o.User)
	}
	if f := SecretFile("clickhouse-" + o.User); o.Password != "" && f != "" {
		args = append(args, "--clickhouse-password-file", f)
	}
	return args
}

// Configure fills a config through its Register method and the given flags, as the
// binaries do, with an empty environment.
func Configure(t testing.TB, register func(*flag.FlagSet), args ...string) {
	t.Helper()
	fs := flag.NewFlagSet(t.Name(), flag.ContinueOnError)
	register(fs)
	if err := config.Parse(fs, args, config.MapLookup(nil)); err != nil {
		t.Fatalf("config: %v", err)
	}
}

// ReadAll returns every record of topic present when it is called, read straight
// from each partition leader.
func ReadAll(t testing.TB, c stream.Cluster, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := stream.PartitionCount(ctx, c, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for p := 0; p < n; p++ {
		conn, err := c.DialLeader(ctx, topic, p)
		if err != nil {
			t.Fatalf("dial leader of %s/%d: %v", topic, p, err)
		}
		first, last, err := conn.ReadOffsets()
		if err != nil {
			conn.Close()
			t.Fatalf("offsets of %s/%d: %v", topic, p, err)
		}
		for off := first; off < last; {
			if _, err := conn.Seek(off, kafka.SeekAbsolute); err != nil {
				conn.Close()
				t.Fatalf("seek %s/%d to %d: %v", topic, p, off, err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: 16 << 20, MaxWait: time.Second})
			read := 0
			for {
				m, err := batch.ReadMessage()
				if err != nil {
					break
				}
				m.Topic, m.Partition = topic, p
				out = append(out, m)
				off = m.Offset + 1
				read++
			}
			if err := batch.Close(); err != nil && read == 0 {
				conn.Close()
				t.Fatalf("read %s/%d at %d: %v", topic, p, off, err)
			}
		}
		conn.Close()
	}
	return out
}

// FreeAddr returns a loopback address with a port free right now, for a server
// the test starts and that listens by itself.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// WaitReady waits until GET url/readyz answers 200, for at most timeout.
func WaitReady(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, url+" ready", func() (bool, string) {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// Eventually polls cond every 250ms until it returns true or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not reached after %s (last: %s)", what, timeout, last)
}

// Request sends one HTTP request to url, with a bearer token when auth is set
// and a JSON body when body is set, and returns the status and the body read.
func Request(t testing.TB, method, url, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
