package chstore_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/testenv"
	"github.com/veiltelemetry/veil/schemas"
)

// TestOnClusterShardedRoutesRetriesAndFailsOver checks what the sink relies on
// when it writes to a cluster through chstore.Sharded: each partition's rows
// land on the shard ShardOf names and on both its replicas; the same rows
// inserted again, to either replica, are stored once (tables, rollups and
// event_ids alike); with a replica that does not answer, inserts go to the
// other one and reads trust it once it fetched every part; the old days of
// event_ids are dropped on every shard.
func TestOnClusterShardedRoutesRetriesAndFailsOver(t *testing.T) {
	ctx := context.Background()
	o, c, nodes := migratedCluster(t, "veil_sharded")
	syncAll := func() {
		t.Helper()
		for i, st := range nodes {
			for _, tb := range []string{"playback_local", "event_ids_local", ".inner.playback_daily_local"} {
				if err := st.Conn().Exec(ctx, fmt.Sprintf("SYSTEM SYNC REPLICA `%s`.`%s`", st.Database(), tb)); err != nil {
					t.Fatalf("sync %s on %s: %v", tb, c.Nodes[i], err)
				}
			}
		}
	}
	count := func(node int, q string) uint64 {
		t.Helper()
		var n uint64
		if err := nodes[node].Conn().QueryRow(ctx, fmt.Sprintf(q, nodes[node].Database())).Scan(&n); err != nil {
			t.Fatalf("%s on %s: %v", q, c.Nodes[node], err)
		}
		return n
	}

	s, err := c.OpenSharded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tb, ok := s.Table("playback")
	if !ok || tb.Name != o.Database+".playback_local" {
		t.Fatalf("the sharded store's playback table is %v, want %s.playback_local", tb, o.Database)
	}
	hour := time.Now().UTC().Truncate(time.Hour)
	rows := chstore.NewRows(tb)
	var ids chstore.IDs
	perPartition := 5
	for p := range 4 {
		for i := range perPartition {
			id := fmt.Sprintf("p%d-%d", p, i)
			if err := rows.Append(playbackRecord(tb, hour, p*100+i, map[string]string{"event_id": id, "playback_event": "start"}), p, int64(10+i)); err != nil {
				t.Fatal(err)
			}
			ids.Add(p, int64(10+i), id)
		}
	}
	// Retried: the same blocks again through the same store.
	for range 2 {
		if err := s.Insert(ctx, rows); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertIDs(ctx, &ids); err != nil {
			t.Fatal(err)
		}
	}
	syncAll()
	for i, n := range c.Nodes {
		for p := range 4 {
			want := uint64(0)
			if c.ShardOf(p) == n.Shard {
				want = uint64(perPartition)
			}
			if got := count(i, "SELECT count() FROM %s.playback_local WHERE kafka_partition = "+fmt.Sprint(p)); got != want {
				t.Errorf("%s holds %d rows of partition %d, want %d (ShardOf = %d)", n, got, p, want, c.ShardOf(p))
			}
			if got := count(i, "SELECT count() FROM %s.event_ids_local WHERE kafka_partition = "+fmt.Sprint(p)); got != want {
				t.Errorf("%s: event_ids holds %d ids of partition %d, want %d", n, got, p, want)
			}
		}
		if got := count(i, "SELECT sum(events) FROM %s.playback_daily_local"); got != uint64(2*perPartition) {
			t.Errorf("%s: the rollup counts %d events, want %d", n, got, 2*perPartition)
		}
		if got := count(i, "SELECT countIf(inserted_at != toDateTime('"+hour.Format("2006-01-02 15:04:05")+"', 'UTC')) FROM %s.playback_local"); got != 0 {
			t.Errorf("%s: %d rows with an inserted_at other than the hour of the first attempt", n, got)
		}
	}

	// Replica 1 of shard 1 does not answer: the same block goes to replica 2,
	// which already has it through replication, and is stored once.
	down := *c
	down.Nodes = append([]chstore.Node(nil), c.Nodes...)
	for i, n := range down.Nodes {
		if n.Shard == 1 && n.Replica == 1 {
			down.Nodes[i].Addr = "127.0.0.1:1"
		}
	}
	s2, err := down.OpenSharded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var failovers []string
	s2.OnFailover = func(shard int, failed chstore.Node, err error) {
		failovers = append(failovers, fmt.Sprintf("shard %d %s", shard, failed.Addr))
		if err == nil {
			t.Errorf("OnFailover for shard %d without the replica's error", shard)
		}
	}
	if err := s2.Insert(ctx, rows); err != nil {
		t.Fatalf("insert with a replica down: %v", err)
	}
	// The dead replica failed the block once; the shard then prefers the
	// replica that took it, so the next block does not fail over again.
	if want := []string{"shard 1 127.0.0.1:1"}; fmt.Sprint(failovers) != fmt.Sprint(want) {
		t.Errorf("failovers reported %v, want %v", failovers, want)
	}
	rows.Reset()
	for _, p := range []int{0, 1} {
		if err := rows.Append(playbackRecord(tb, hour, 999, map[string]string{"event_id": fmt.Sprintf("late-%d", p)}), p, 100); err != nil {
			t.Fatal(err)
		}
	}
	if err := s2.Insert(ctx, rows); err != nil {
		t.Fatalf("insert with a replica down: %v", err)
	}
	ids.Reset()
	ids.Add(0, 100, "late-0")
	ids.Add(1, 100, "late-1")
	if err := s2.InsertIDs(ctx, &ids); err != nil {
		t.Fatalf("insert of ids with a replica down: %v", err)
	}
	if len(failovers) != 1 {
		t.Errorf("failovers reported %v after the second block and its ids, want only the first block's", failovers)
	}
	syncAll()
	for i := range c.Nodes {
		if got := count(i, "SELECT count() FROM %s.playback_local"); got != uint64(2*perPartition+1) {
			t.Errorf("%s holds %d rows, want %d", c.Nodes[i], got, 2*perPartition+1)
		}
	}
	resume, err := s2.Resume(ctx, 0, 1, 2, 3)
	if err != nil {
		t.Fatalf("resume points with a replica down and the other caught up: %v", err)
	}
	month := chstore.Month(hour)
	for p, want := range map[int]int64{0: 100, 1: 100, 2: int64(10 + perPartition - 1), 3: int64(10 + perPartition - 1)} {
		if got := resume[chstore.ResumeKey{Table: tb.Name, Partition: p, Month: month}]; got != want {
			t.Errorf("resume point of partition %d: %d, want %d", p, got, want)
		}
	}
	if has, err := s2.HasStoredID(ctx, 0, 100); err != nil || !has {
		t.Errorf("HasStoredID(0, 100) = %v, %v; want true", has, err)
	}
	if has, err := s2.HasStoredID(ctx, 0, 101); err != nil || has {
		t.Errorf("HasStoredID(0, 101) = %v, %v; want false", has, err)
	}
	stored := map[string]bool{}
	if err := s2.StoredIDs(ctx, 2, 11, time.Now().Add(-2*time.Hour), func(id chstore.StoredID) error { stored[id.EventID] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(stored) != perPartition-2 || !stored["p2-2"] || stored["p2-1"] {
		t.Errorf("ids of partition 2 above offset 11: %v, want p2-2..p2-%d", stored, perPartition-1)
	}

	// Every shard drops today's ids once the cutoff is two days later.
	if _, err := s.DropStoredIDsBefore(ctx, time.Now().Add(72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	syncAll()
	for i := range c.Nodes {
		if got := count(i, "SELECT count() FROM %s.event_ids_local"); got != 0 {
			t.Errorf("%s: event_ids holds %d ids after every day was dropped", c.Nodes[i], got)
		}
	}
}

// BenchmarkOnClusterResumeEveryReplica measures what reading the resume
// points from every replica of the shards costs against reading them from one
// replica of each shard, as the sink would with a quorum-consistent read, in
// the same run: 8 partitions, 40,000 rows. It reports both and their ratio.
//
//	VEIL_CLUSTER=1 ... go test -run '^$' -bench OnClusterResume ./internal/chstore
func BenchmarkOnClusterResumeEveryReplica(b *testing.B) {
	ctx := context.Background()
	_, c, _ := migratedCluster(b, "veil_bench_resume")
	s, err := c.OpenSharded(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tb, _ := s.Table("playback")
	rows := chstore.NewRows(tb)
	hour := time.Now().UTC().Truncate(time.Hour)
	for i := range 40000 {
		if err := rows.Append(playbackRecord(tb, hour, i, map[string]string{"event_id": fmt.Sprint("e", i)}), i%8, int64(i/8)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Insert(ctx, rows); err != nil {
		b.Fatal(err)
	}
	var one []*chstore.Store
	for shard := 1; shard <= c.Shards(); shard++ {
		st, err := c.OpenShard(ctx, shard)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		one = append(one, st)
	}
	parts := []int{0, 1, 2, 3, 4, 5, 6, 7}
	var tOne, tAll time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		for i, st := range one {
			var mine []int
			for _, p := range parts {
				if c.ShardOf(p) == i+1 {
					mine = append(mine, p)
				}
			}
			if _, err := st.Resume(ctx, mine...); err != nil {
				b.Fatal(err)
			}
		}
		tOne += time.Since(start)
		start = time.Now()
		if _, err := s.Resume(ctx, parts...); err != nil {
			b.Fatal(err)
		}
		tAll += time.Since(start)
	}
	b.ReportMetric(float64(tOne.Microseconds())/float64(b.N), "µs/one-replica")
	b.ReportMetric(float64(tAll.Microseconds())/float64(b.N), "µs/every-replica")
	b.ReportMetric(float64(tAll)/float64(tOne), "ratio")
}

// TestOnClusterRetentionDropsOldMonthsOnEveryShard: `sink retention` on a
// cluster lists the expired months of every shard's local tables and their
// rollups, and drops them on every replica (through the replica that leads
// each table), keeping the recent months; run again, it drops nothing.
func TestOnClusterRetentionDropsOldMonthsOnEveryShard(t *testing.T) {
	ctx := context.Background()
	o, c, nodes := migratedCluster(t, "veil_retention_cluster")
	s, err := c.OpenSharded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tb, _ := s.Table("playback")
	now := time.Now().UTC()
	mid := time.Date(now.Year(), now.Month(), 15, 12, 0, 0, 0, time.UTC)
	rows := chstore.NewRows(tb)
	for p := range 4 {
		for i, at := range []time.Time{mid.AddDate(0, -14, 0), mid.AddDate(0, -13, 0), mid} {
			if err := rows.Append(playbackRecord(tb, at, p*10+i, map[string]string{"event_id": fmt.Sprintf("p%d-%d", p, i), "playback_event": "start"}), p, int64(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := chstore.Retain(ctx, o, 12, true, now, &out); err != nil {
		t.Fatal(err)
	}
	// Per shard: two months of playback_local and of its two rollups' inner tables.
	if n := strings.Count(out.String(), "would drop\t"); n != 2*2*3 {
		t.Errorf("dry run lists %d partitions, want 12 (2 shards × 2 months × the table and its 2 rollups):\n%s", n, out.String())
	}
	out.Reset()
	if err := chstore.Retain(ctx, o, 12, false, now, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "dropped\t"); n != 12 {
		t.Errorf("retention dropped %d partitions, want 12:\n%s", n, out.String())
	}
	for i, st := range nodes {
		for _, tbl := range []string{"playback_local", ".inner.playback_daily_local"} {
			if err := st.Conn().Exec(ctx, fmt.Sprintf("SYSTEM SYNC REPLICA `%s`.`%s`", st.Database(), tbl)); err != nil {
				t.Fatalf("sync %s on %s: %v", tbl, c.Nodes[i], err)
			}
		}
		var total, old, rollupOld uint64
		q := fmt.Sprintf("SELECT count(), countIf(event_hour < toDateTime('%s')) FROM %s.playback_local", mid.AddDate(0, -1, 0).Format("2006-01-02 15:04:05"), st.Database())
		if err := st.Conn().QueryRow(ctx, q).Scan(&total, &old); err != nil {
			t.Fatal(err)
		}
		if err := st.Conn().QueryRow(ctx, fmt.Sprintf("SELECT count() FROM %s.playback_daily_local WHERE day < toDate('%s')", st.Database(), mid.AddDate(0, -1, 0).Format("2006-01-02"))).Scan(&rollupOld); err != nil {
			t.Fatal(err)
		}
		if total != 2 || old != 0 || rollupOld != 0 {
			t.Errorf("%s after retention: %d rows, %d of them old, %d old rollup rows; want the 2 recent rows of its shard only", c.Nodes[i], total, old, rollupOld)
		}
	}
	out.Reset()
	if err := chstore.Retain(ctx, o, 12, false, now, &out); err != nil || strings.Count(out.String(), "dropped\t") != 0 {
		t.Errorf("retention again: %v\n%s", err, out.String())
	}
}

// migratedCluster opens the local cluster with a new database named after
// prefix, migrated on every server, and returns its options, the cluster and a
// Store of each server; the database is dropped on every server when the test
// ends.
func migratedCluster(t testing.TB, prefix string) (chstore.Options, *chstore.Cluster, []*chstore.Store) {
	t.Helper()
	o := testenv.ClickHouseCluster(t)
	o.Database = testenv.Unique(prefix)
	ctx := context.Background()
	c, err := chstore.OpenCluster(ctx, o, schemas.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*chstore.Store
	for _, n := range c.Nodes {
		st, err := c.OpenNode(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, st)
	}
	t.Cleanup(func() {
		for _, st := range nodes {
			_ = st.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+st.Database())
			st.Close()
		}
	})
	if _, err := c.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return o, c, nodes
}
