package chstore_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veiltelemetry/veil/internal/chstore"
)

var update = flag.Bool("update", false, "rewrite testdata/cluster.golden")

// The golden file shows what every embedded migration becomes on the servers
// of a cluster (for ClickHouse 18.16), statement by statement with the servers
// it runs on: a new migration changes it, and the change is reviewed with the
// migration (go test ./internal/chstore -run ClusterRendering -update).
func TestClusterRenderingOfTheMigrations(t *testing.T) {
	ms, err := chstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("-- The embedded migrations rendered for the servers of cluster veil_cluster, database veil,\n")
	b.WriteString("-- ClickHouse 18.16 (chstore.RenderCluster). Generated: go test ./internal/chstore -run ClusterRendering -update\n\n")
	for _, m := range ms {
		stmts, err := chstore.RenderCluster(m.SQL, "veil", "veil_cluster", chstore.FeaturesOf(18, 16))
		if err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		for i, st := range stmts {
			fmt.Fprintf(&b, "-- %s, statement %d, on %s\n%s;\n\n", m.Name, i+1, st.Scope, st.SQL)
		}
		// A current server renders too (LowCardinality columns).
		if _, err := chstore.RenderCluster(m.SQL, "veil", "veil_cluster", chstore.FeaturesOf(25, 8)); err != nil {
			t.Fatalf("%s on a current server: %v", m.Name, err)
		}
	}
	golden := filepath.Join("testdata", "cluster.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./internal/chstore -run ClusterRendering -update writes it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("the cluster rendering differs from %s; review and rewrite it with -update:\n%s", golden, b.String())
	}
}

func TestRenderClusterRewritesEachKindOfStatement(t *testing.T) {
	type stmt struct {
		sql   string
		scope chstore.Scope
	}
	every, one := chstore.EveryServer, chstore.OnePerShard
	for _, tt := range []struct {
		name string
		sql  string
		want []stmt
	}{
		{
			name: "a table becomes a replicated local table and a Distributed table sharded by kafka_partition",
			sql:  "CREATE TABLE IF NOT EXISTS {{.DB}}.t (\n    a String,\n    kafka_partition UInt32\n) ENGINE = MergeTree()\nORDER BY a",
			want: []stmt{
				{"CREATE TABLE IF NOT EXISTS db.t_local (\n    a String,\n    kafka_partition UInt32\n) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/t_local', '{replica}')\nORDER BY a", every},
				{"CREATE TABLE IF NOT EXISTS db.t AS db.t_local ENGINE = Distributed(c, db, t_local, kafka_partition)", every},
			},
		},
		{
			name: "a table without kafka_partition has no sharding key",
			sql:  "CREATE TABLE IF NOT EXISTS {{.DB}}.t (a String) ENGINE = ReplacingMergeTree(v) ORDER BY a",
			want: []stmt{
				{"CREATE TABLE IF NOT EXISTS db.t_local (a String) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/t_local', '{replica}', v) ORDER BY a", every},
				{"CREATE TABLE IF NOT EXISTS db.t AS db.t_local ENGINE = Distributed(c, db, t_local)", every},
			},
		},
		{
			name: "a rollup keeps its engine's arguments after the replica's, reads the local table and gets a Distributed table",
			sql:  "CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.v\nENGINE = SummingMergeTree((n, m))\nORDER BY d\nAS SELECT d, count() AS n FROM {{.DB}}.t GROUP BY d",
			want: []stmt{
				{"CREATE MATERIALIZED VIEW IF NOT EXISTS db.v_local\nENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/db/v_local', '{replica}', (n, m))\nORDER BY d\nAS SELECT d, count() AS n FROM db.t_local GROUP BY d", every},
				{"CREATE TABLE IF NOT EXISTS db.v AS db.v_local ENGINE = Distributed(c, db, v_local)", every},
			},
		},
		{
			name: "a view into another table connects the local tables and holds nothing",
			sql:  "CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.v TO {{.DB}}.x AS\nSELECT a FROM {{.DB}}.t",
			want: []stmt{{"CREATE MATERIALIZED VIEW IF NOT EXISTS db.v_local TO db.x_local AS\nSELECT a FROM db.t_local", every}},
		},
		{
			name: "a column change runs on the local and the Distributed table of every server",
			sql:  "ALTER TABLE {{.DB}}.t MODIFY COLUMN a String DEFAULT 'x,y', ADD COLUMN b UInt8",
			want: []stmt{
				{"ALTER TABLE db.t_local MODIFY COLUMN a String DEFAULT 'x,y', ADD COLUMN b UInt8", every},
				{"ALTER TABLE db.t MODIFY COLUMN a String DEFAULT 'x,y', ADD COLUMN b UInt8", every},
			},
		},
		{
			name: "a mutation runs on one replica per shard",
			sql:  "ALTER TABLE {{.DB}}.t UPDATE a = lower(a) WHERE a != lower(a)",
			want: []stmt{{"ALTER TABLE db.t_local UPDATE a = lower(a) WHERE a != lower(a)", one}},
		},
		{
			name: "an INSERT ... SELECT runs on one replica per shard, from and into local tables",
			sql:  "INSERT INTO {{.DB}}.x (a) SELECT a FROM {{.DB}}.t WHERE a != ''",
			want: []stmt{{"INSERT INTO db.x_local (a) SELECT a FROM db.t_local WHERE a != ''", one}},
		},
		{
			name: "a DROP drops the Distributed and the local table on every server",
			sql:  "DROP TABLE IF EXISTS {{.DB}}.v",
			want: []stmt{{"DROP TABLE IF EXISTS db.v", every}, {"DROP TABLE IF EXISTS db.v_local", every}},
		},
		{
			name: "names that only begin like the database are left alone",
			sql:  "INSERT INTO {{.DB}}.x (a) SELECT a FROM {{.DB}}.t WHERE a != 'db.t' AND b = mydb.f",
			want: []stmt{{"INSERT INTO db.x_local (a) SELECT a FROM db.t_local WHERE a != 'db.t_local' AND b = mydb.f", one}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chstore.RenderCluster(tt.sql, "db", "c", chstore.Features{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d statements, want %d: %q", len(got), len(tt.want), got)
			}
			for i := range got {
				if got[i].SQL != tt.want[i].sql || got[i].Scope != tt.want[i].scope {
					t.Errorf("statement %d:\n got %q on %s\nwant %q on %s", i+1, got[i].SQL, got[i].Scope, tt.want[i].sql, tt.want[i].scope)
				}
			}
		})
	}
}

func TestRenderClusterRefusesWhatItCannotRewrite(t *testing.T) {
	for _, tt := range []struct{ name, sql, want string }{
		{"an unknown statement", "OPTIMIZE TABLE {{.DB}}.t FINAL", "cluster mode cannot run"},
		{"a CREATE without IF NOT EXISTS", "CREATE TABLE {{.DB}}.t (a String) ENGINE = MergeTree() ORDER BY a", "cluster mode cannot run"},
		{"an ALTER that changes columns and mutates data", "ALTER TABLE {{.DB}}.t ADD COLUMN b String, UPDATE a = '' WHERE 1", "split it"},
		{"a partition operation", "ALTER TABLE {{.DB}}.t DROP PARTITION 202401", "column changes"},
		{"a DROP without IF EXISTS", "DROP TABLE {{.DB}}.t", "cluster mode cannot run"},
		{"another database", "CREATE TABLE IF NOT EXISTS other.t (a String) ENGINE = MergeTree() ORDER BY a", "database other"},
		{"an engine outside the MergeTree family", "CREATE TABLE IF NOT EXISTS {{.DB}}.t (a String) ENGINE = TinyLog", "MergeTree family"},
		{"an engine already replicated", "CREATE TABLE IF NOT EXISTS {{.DB}}.t (a String) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY a", "MergeTree family"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chstore.RenderCluster(tt.sql, "db", "c", chstore.Features{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("RenderCluster = %v; want an error saying %q", err, tt.want)
			}
		})
	}
}

// ShardOf is what a Distributed table sharded by kafka_partition does: the
// partition modulo the total weight picks a slot, shards own slots by weight
// in order.
func TestShardOfFollowsTheDistributedTablesSlots(t *testing.T) {
	nodes := func(weights ...int) []chstore.Node {
		var out []chstore.Node
		for i, w := range weights {
			out = append(out, chstore.Node{Shard: i + 1, Replica: 1, Weight: w}, chstore.Node{Shard: i + 1, Replica: 2, Weight: w})
		}
		return out
	}
	for _, tt := range []struct {
		name    string
		weights []int
		want    []int // shard of partitions 0, 1, 2...
	}{
		{"two shards of weight 1 take even and odd partitions", []int{1, 1}, []int{1, 2, 1, 2, 1, 2, 1, 2}},
		{"one shard takes every partition", []int{1}, []int{1, 1, 1}},
		{"weights 2 and 1 give the first shard two slots of three", []int{2, 1}, []int{1, 1, 2, 1, 1, 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &chstore.Cluster{Name: "c", Nodes: nodes(tt.weights...)}
			for p, want := range tt.want {
				if got := c.ShardOf(p); got != want {
					t.Errorf("ShardOf(%d) = %d, want %d", p, got, want)
				}
			}
		})
	}
}
