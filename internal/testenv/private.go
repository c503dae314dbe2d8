package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/stream"
)

// Service is a Kafka broker or ClickHouse server owned by one test, started through
// the project's scripts with its own state directory and ports. Tests that stop,
// kill or restart a service use one of these so they never disturb the shared
// services other test packages are using at the same time.
type Service struct {
	t      testing.TB
	script string
	env    []string
	Addr   string // 127.0.0.1:port of the broker listener or the native protocol
}

// PrivateKafka starts a broker of the test's own and stops it when the test ends.
// It is only available where the shared services are (scripts/test). Its
// accounts have the passwords of VEIL_SECRETS, as the shared broker's.
func PrivateKafka(t testing.TB) *Service {
	t.Helper()
	Kafka(t) // same gating as the shared broker: skip or fail under CI
	port, ctl := freePort(t), freePort(t)
	s := &Service{t: t, script: "kafka", Addr: fmt.Sprintf("127.0.0.1:%d", port),
		env: append(secretsEnv(t), "VEIL_STATE="+t.TempDir(), fmt.Sprintf("VEIL_KAFKA_PORT=%d", port), fmt.Sprintf("VEIL_KAFKA_CONTROLLER_PORT=%d", ctl))}
	s.Start()
	t.Cleanup(func() { s.run("kill") })
	return s
}

// PrivateClickHouse starts a ClickHouse server of the test's own, with the
// accounts of VEIL_SECRETS (the sink's and the analysts' in database veil).
func PrivateClickHouse(t testing.TB) *Service {
	t.Helper()
	ClickHouse(t)
	port, http := freePort(t), freePort(t)
	s := &Service{t: t, script: "clickhouse", Addr: fmt.Sprintf("127.0.0.1:%d", port),
		env: append(secretsEnv(t), "VEIL_STATE="+t.TempDir(), fmt.Sprintf("VEIL_CLICKHOUSE_PORT=%d", port), fmt.Sprintf("VEIL_CLICKHOUSE_HTTP_PORT=%d", http))}
	s.Start()
	t.Cleanup(func() { s.run("kill") })
	return s
}

// secretsEnv makes a private service's accounts those of the shared services:
// scripts/kafka and scripts/clickhouse always create accounts, so a test needs
// VEIL_SECRETS to know their passwords.
func secretsEnv(t testing.TB) []string {
	t.Helper()
	Accounts(t)
	return []string{"VEIL_SECRETS=" + os.Getenv("VEIL_SECRETS")}
}

// Kafka is the private broker as its administrator.
func (s *Service) Kafka() stream.Cluster {
	s.t.Helper()
	return KafkaAs(s.t, []string{s.Addr}, AdminKafkaUser)
}

// ClickHouse is the private server as its administrator.
func (s *Service) ClickHouse() chstore.Options {
	s.t.Helper()
	return ClickHouseAs(s.t, s.Addr, "default")
}

// Start starts the service and waits until it answers.
func (s *Service) Start() { s.t.Helper(); s.run("start") }

// Stop stops it gracefully (SIGTERM).
func (s *Service) Stop() { s.t.Helper(); s.run("stop") }

// Kill kills it with SIGKILL, as a crash would.
func (s *Service) Kill() { s.t.Helper(); s.run("kill") }

func (s *Service) run(cmd string) {
	s.t.Helper()
	c := exec.Command(filepath.Join(RepoRoot(s.t), "scripts", s.script), cmd)
	c.Env = append(os.Environ(), s.env...)
	out, err := c.CombinedOutput()
	if err != nil {
		s.t.Fatalf("scripts/%s %s: %v\n%s", s.script, cmd, err, out)
	}
}

// RepoRoot is the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
