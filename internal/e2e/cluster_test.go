package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// clusterDB is a fresh database on every server of the test cluster, dropped
// at the end, and the cluster's servers as stores of their local tables.
type clusterDB struct {
	c     *chstore.Cluster
	nodes []*chstore.Store // by shard, then replica, as c.Nodes
}

func newClusterDB(t *testing.T, prefix string) *clusterDB {
	t.Helper()
	o := testenv.ClickHouseCluster(t)
	o.Database = testenv.Unique(prefix)
	ctx := context.Background()
	c, err := chstore.OpenCluster(ctx, o, schemas.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	d := &clusterDB{c: c}
	for _, n := range c.Nodes {
		st, err := c.OpenNode(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		d.nodes = append(d.nodes, st)
	}
	t.Cleanup(func() {
		for i, st := range d.nodes {
			if err := st.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+st.Database()); err != nil {
				t.Logf("drop %s on %s: %v", st.Database(), c.Nodes[i], err)
			}
			st.Close()
		}
	})
	return d
}

// syncReplicas waits until every replica of every replicated table of the
// database holds what the other replicas of its shard were given.
func (d *clusterDB) syncReplicas(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for i, st := range d.nodes {
		tables := tableNames(t, st, "SELECT table FROM system.replicas WHERE database = ?", st.Database())
		for _, tb := range tables {
			if err := st.Conn().Exec(ctx, fmt.Sprintf("SYSTEM SYNC REPLICA `%s`.`%s`", st.Database(), tb)); err != nil {
				t.Fatalf("sync replica %s on %s: %v", tb, d.c.Nodes[i], err)
			}
		}
	}
}

// optimize merges every replicated table's parts on the replica that leads it:
// ClickHouse 18.16 forwards OPTIMIZE from the other replicas to the leader
// without a password, which scripts/cluster's administrator has.
func (d *clusterDB) optimize(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for i, st := range d.nodes {
		// 18.16 fails to optimize a replicated table without parts ("Unknown
		// log entry type: 0"): only those with parts.
		tables := tableNames(t, st, `SELECT table FROM system.replicas WHERE database = ? AND is_leader
			AND table IN (SELECT table FROM system.parts WHERE database = ? AND active)`, st.Database(), st.Database())
		for _, tb := range tables {
			if err := st.Conn().Exec(ctx, fmt.Sprintf("OPTIMIZE TABLE `%s`.`%s` FINAL", st.Database(), tb)); err != nil {
				t.Fatalf("optimize %s on %s: %v", tb, d.c.Nodes[i], err)
			}
		}
	}
}

// tableNames returns the names query q (one column) selects on st.
func tableNames(t *testing.T, st *chstore.Store, q string, args ...any) []string {
	t.Helper()
	rows, err := st.Conn().Query(context.Background(), q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func (d *clusterDB) count(t *testing.T, node int, q string) uint64 {
	t.Helper()
	var n uint64
	if err := d.nodes[node].Conn().QueryRow(context.Background(), strings.ReplaceAll(q, "DB.", d.nodes[node].Database()+".")).Scan(&n); err != nil {
		t.Fatalf("%s on %s: %v", q, d.c.Nodes[node], err)
	}
	return n
}

// TestOnClusterAnalystQueriesGiveOneServersAnswers migrates a fresh database
// on the two shards of two replicas of scripts/cluster (twice: the second run
// applies nothing), loads the events of the analyst-query test into the
// shards' local tables the way the sink will (each Kafka partition to the
// shard ShardOf names), and the same events into one server's ordinary
// tables. Every query in queries/, run unchanged through the Distributed
// tables from each of the four servers, returns the rows the single server
// returns, and the figures computed from the events; before and after the
// replicas merged their parts.
func TestOnClusterAnalystQueriesGiveOneServersAnswers(t *testing.T) {
	d := newClusterDB(t, "veil_shards")
	ctx := context.Background()
	if got := d.c.Shards(); got != 2 || len(d.c.Nodes) != 4 {
		t.Fatalf("cluster %s: %d shards, %d servers; scripts/cluster runs 2 shards of 2 replicas", d.c.Name, got, len(d.c.Nodes))
	}
	all, err := chstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.c.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if len(r.Applied) != len(all) || r.Err != nil {
			t.Errorf("first migration on %s: applied %d of %d migrations (err %v)", r.Node, len(r.Applied), len(all), r.Err)
		}
	}
	res, err = d.c.Migrate(ctx)
	if err != nil {
		t.Fatalf("second migration: %v", err)
	}
	for i, r := range res {
		if len(r.Applied) != 0 {
			t.Errorf("second migration on %s applied %d migrations again", r.Node, len(r.Applied))
		}
		if n := d.count(t, i, "SELECT count() FROM DB.schema_migrations"); n != uint64(len(all)) {
			t.Errorf("%s records %d migrations, want %d", r.Node, n, len(all))
		}
		for _, tb := range []string{"playback", "playback_daily", "installations_daily", "crash", "crashes_daily", "hosted", "marketing", "integration", "serverinfo"} {
			q := fmt.Sprintf("SELECT countIf(name = '%[1]s' AND engine = 'Distributed') + countIf(name = '%[1]s_local' AND engine IN ('ReplicatedMergeTree', 'MaterializedView')) FROM system.tables WHERE database = '%s'", tb, d.nodes[i].Database())
			if n := d.count(t, i, q); n != 2 {
				t.Errorf("%s: %s lacks the Distributed table %s or its local table", r.Node, d.nodes[i].Database(), tb)
			}
		}
	}

	// One server's ordinary tables, for the answers to compare with: a
	// database of the single-server schema on the first server.
	one := d.c.Nodes[0]
	oo := testenv.ClickHouseAs(t, one.Addr, "default")
	oo.Database = testenv.Unique("veil_one")
	single, err := chstore.Open(ctx, oo, schemas.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = single.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+single.Database())
		single.Close()
	})
	if _, err := single.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	recs := analystEvents(t, 30000)
	shards := map[int]*chstore.Store{}
	for s := 1; s <= d.c.Shards(); s++ {
		st, err := d.c.OpenShard(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		shards[s] = st
	}
	load(t, single, recs, func(int) *chstore.Store { return single })
	load(t, shards[1], recs, func(p int) *chstore.Store { return shards[d.c.ShardOf(p)] })
	d.syncReplicas(t)
	for i, n := range d.c.Nodes {
		// Partitions 0 and 2 are even: shard 1; 1 and 3: shard 2.
		want := map[int]uint64{1: 15000, 2: 15000}[n.Shard]
		if got := d.count(t, i, "SELECT count() FROM DB.playback_local"); got != want {
			t.Errorf("%s holds %d rows of its shard, want %d", n, got, want)
		}
		if got := d.count(t, i, "SELECT count() FROM DB.playback_local WHERE kafka_partition % 2 != "+fmt.Sprint(n.Shard-1)); got != 0 {
			t.Errorf("%s holds %d rows of the other shard's partitions", n, got)
		}
	}

	want := expectedFigures(recs)
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "queries", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(stage string) {
		for _, f := range files {
			name := filepath.Base(f)
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			exp, ok := want[name]
			if !ok {
				t.Errorf("queries/%s: no expected figures in this test; add them", name)
				continue
			}
			oneRows := queryCells(t, single, strings.ReplaceAll(string(data), "veil.", single.Database()+"."))
			compareFigures(t, stage+": one server: "+name, oneRows, exp)
			for i, st := range d.nodes {
				got := queryCells(t, st, strings.ReplaceAll(string(data), "veil.", st.Database()+"."))
				if !reflect.DeepEqual(got, oneRows) {
					t.Errorf("%s: %s through the Distributed tables of %s: %d rows differ from one server's %d rows; first rows %v and %v",
						stage, name, d.c.Nodes[i], len(got), len(oneRows), first(got), first(oneRows))
				}
			}
			if stage == "before merges" {
				t.Logf("%s: %d rows, the same from each of the %d servers as from one server", name, len(oneRows), len(d.nodes))
			}
		}
	}
	check("before merges")
	d.optimize(t)
	for _, v := range []string{"playback_daily", "installations_daily", "playback"} {
		if err := single.Conn().Exec(ctx, "OPTIMIZE TABLE "+single.Database()+"."+v+" FINAL"); err != nil {
			t.Fatal(err)
		}
	}
	d.syncReplicas(t)
	check("after OPTIMIZE FINAL")
}

func first(rows figures) []any {
	if len(rows) == 0 {
		return nil
	}
	return rows[0]
}

// load inserts recs in batches of 5,000 rows per store, record i at partition
// i%4 and offset i, into the store storeOf(partition) gives: one server's
// tables, or the local tables of a partition's shard.
func load(t *testing.T, any *chstore.Store, recs []map[string]any, storeOf func(partition int) *chstore.Store) {
	t.Helper()
	ctx := context.Background()
	rows := map[*chstore.Store]*chstore.Rows{}
	flush := func(st *chstore.Store) {
		if r := rows[st]; r != nil && r.Len() > 0 {
			if err := st.Insert(ctx, r); err != nil {
				t.Fatal(err)
			}
			r.Reset()
		}
	}
	for i, rec := range recs {
		st := storeOf(i % 4)
		r := rows[st]
		if r == nil {
			tb, ok := st.Table("playback")
			if !ok {
				t.Fatal("no playback table")
			}
			if st.Cluster() != "" && tb.Name != st.TableName("playback") {
				t.Fatalf("a shard's store inserts into %s, not the local table %s", tb.Name, st.TableName("playback"))
			}
			r = chstore.NewRows(tb)
			rows[st] = r
		}
		flat, err := r.Table().Schema.ToFlat(rec)
		if err == nil {
			err = r.AppendFlat(flat, i%4, int64(i))
		}
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if r.Len() == 5000 {
			flush(st)
		}
	}
	for st := range rows {
		flush(st)
	}
}

// TestOnClusterReplicasShareRowsAndDeduplicateRetriedBlocks checks what the
// sink relies on when it writes a partition's rows to its shard: a row written
// to one replica is read on the other once it synced, or at once with
// select_sequential_consistency after a quorum insert; the same block written
// again, to either replica, is stored once, rollups included; and a row
// written through the Distributed table lands on the shard ShardOf names for
// its partition.
func TestOnClusterReplicasShareRowsAndDeduplicateRetriedBlocks(t *testing.T) {
	d := newClusterDB(t, "veil_replicas")
	ctx := context.Background()
	if _, err := d.c.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	r1, r2 := slices.IndexFunc(d.c.Nodes, func(n chstore.Node) bool { return n.Shard == 1 && n.Replica == 1 }),
		slices.IndexFunc(d.c.Nodes, func(n chstore.Node) bool { return n.Shard == 1 && n.Replica == 2 })
	if r1 < 0 || r2 < 0 {
		t.Fatalf("no two replicas of shard 1 among %v", d.c.Nodes)
	}
	hour := time.Now().UTC().Truncate(time.Hour)
	insert := func(ctx context.Context, node int, ids ...string) {
		t.Helper()
		st := d.nodes[node]
		b, err := st.Conn().PrepareBatch(ctx, "INSERT INTO "+st.Database()+".playback_local (event_id, event_hour, playback_event, kafka_partition, kafka_offset, inserted_at)")
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if err := b.Append(id, hour, "start", uint32(0), uint64(i), hour); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatalf("insert on %s: %v", d.c.Nodes[node], err)
		}
	}
	rollup := "SELECT sum(events) FROM DB.playback_daily_local"

	insert(ctx, r1, "a", "b")
	d.syncReplicas(t)
	if n := d.count(t, r2, "SELECT count() FROM DB.playback_local WHERE event_id IN ('a', 'b')"); n != 2 {
		t.Errorf("replica 2 reads %d of the 2 rows written to replica 1", n)
	}
	if n := d.count(t, r2, rollup); n != 2 {
		t.Errorf("replica 2's rollup counts %d events, want 2", n)
	}

	// A retried block, byte for byte the same, to either replica.
	insert(ctx, r1, "a", "b")
	insert(ctx, r2, "a", "b")
	d.syncReplicas(t)
	for _, node := range []int{r1, r2} {
		if n := d.count(t, node, "SELECT count() FROM DB.playback_local"); n != 2 {
			t.Errorf("%s: %d rows after the same block was written three times, want 2", d.c.Nodes[node], n)
		}
		if n := d.count(t, node, rollup); n != 2 {
			t.Errorf("%s: the rollup counts %d events after the same block was written three times, want 2", d.c.Nodes[node], n)
		}
	}

	// A quorum insert is read at once on the other replica with sequential
	// consistency, without waiting for a sync.
	quorum := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_quorum": 2}))
	insert(quorum, r2, "c")
	var n uint64
	q := "SELECT count() FROM " + d.nodes[r1].Database() + ".playback_local WHERE event_id = 'c'"
	seq := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"select_sequential_consistency": 1}))
	if err := d.nodes[r1].Conn().QueryRow(seq, q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("replica 1 reads %d rows of a quorum insert on replica 2 with select_sequential_consistency, want 1", n)
	}

	// Through the Distributed table, synchronously: partition 5 goes where
	// ShardOf(5) says.
	st := d.nodes[r1]
	sync := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
	b, err := st.Conn().PrepareBatch(sync, "INSERT INTO "+st.Database()+".playback (event_id, event_hour, kafka_partition, kafka_offset)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("through-distributed", hour, uint32(5), uint64(0)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	d.syncReplicas(t)
	for i, node := range d.c.Nodes {
		want := uint64(0)
		if node.Shard == d.c.ShardOf(5) {
			want = 1
		}
		if n := d.count(t, i, "SELECT count() FROM DB.playback_local WHERE event_id = 'through-distributed'"); n != want {
			t.Errorf("%s holds %d rows of partition 5 written through the Distributed table, want %d (ShardOf(5) = %d)", node, n, want, d.c.ShardOf(5))
		}
	}
	if n := d.count(t, r2, "SELECT count() FROM DB.playback"); n != 4 {
		t.Errorf("the Distributed table counts %d rows, want 4", n)
	}
}
