package testenv

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/stream"
)

// The tests of the local cluster (scripts/cluster: three Kafka nodes, two
// ClickHouse shards of two replicas) are named TestOnCluster... and run when
// VEIL_CLUSTER=1, as `scripts/test --cluster` sets it after starting the
// cluster and exporting `scripts/cluster env`. Without VEIL_CLUSTER they are
// skipped visibly, also under CI=true: CI runs them through
// `scripts/test --cluster`, and the ordinary run leaves them out. With
// VEIL_CLUSTER=1 a missing address or a node that does not answer fails them.

// ClusterName is the ClickHouse cluster of scripts/cluster, unless
// VEIL_CLICKHOUSE_CLUSTER names another.
func ClusterName() string {
	if n := os.Getenv("VEIL_CLICKHOUSE_CLUSTER"); n != "" {
		return n
	}
	return "veil_cluster"
}

// needCluster returns the addresses in env, each of which answers.
func needCluster(t testing.TB, env, what string) []string {
	t.Helper()
	if os.Getenv("VEIL_CLUSTER") != "1" {
		t.Skip("VEIL_CLUSTER not set: skipping a test of the local cluster (scripts/test --cluster starts it and runs these)")
	}
	v := os.Getenv(env)
	if v == "" {
		t.Fatalf("VEIL_CLUSTER=1 but %s is not set: eval \"$(scripts/cluster env)\" sets it", env)
	}
	addrs := strings.Split(v, ",")
	for _, a := range addrs {
		conn, err := net.DialTimeout("tcp", a, 3*time.Second)
		if err != nil {
			t.Fatalf("%s: %s of the cluster does not answer: %v (scripts/cluster status)", env, a, err)
		}
		conn.Close()
	}
	return addrs
}

// KafkaCluster returns the cluster's brokers (VEIL_CLUSTER_BROKERS) as the
// Kafka administrator.
func KafkaCluster(t testing.TB) stream.Cluster {
	t.Helper()
	return KafkaAs(t, needCluster(t, "VEIL_CLUSTER_BROKERS", "Kafka"), AdminKafkaUser)
}

// ClickHouseCluster returns how to reach the ClickHouse cluster as its
// administrator: Addr lists its servers (VEIL_CLUSTER_CLICKHOUSE), Cluster
// names it; Database is left empty.
func ClickHouseCluster(t testing.TB) chstore.Options {
	t.Helper()
	addrs := needCluster(t, "VEIL_CLUSTER_CLICKHOUSE", "ClickHouse")
	o := ClickHouseAs(t, strings.Join(addrs, ","), "default")
	o.Cluster = ClusterName()
	return o
}
