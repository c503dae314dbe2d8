package chstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
)

// ShardPartition is a month partition of one shard's local table.
type ShardPartition struct {
	Shard int
	Partition
}

// DropExpired drops, on every shard, the month partitions of the local
// tables (the event tables and the rollups' inner tables) older than
// RetentionCutoff(now, months), and returns those it dropped; with dryRun it
// drops nothing and returns what it would drop. A shard's partitions are
// listed on every replica that answers and dropped on the replica that leads
// the table: 18.16 forwards a DROP PARTITION sent to another replica to the
// leader as the default user, without its password. Replication drops them
// on the other replicas. It is idempotent: running it again, or from two
// places at once, drops nothing twice. A shard none of whose replicas answers
// is an error, after the other shards are done.
func (c *Cluster) DropExpired(ctx context.Context, months int, now time.Time, dryRun bool) ([]ShardPartition, error) {
	var done []ShardPartition
	var errs []error
	for shard := 1; shard <= c.Shards(); shard++ {
		d, err := c.dropExpiredOn(ctx, shard, months, now, dryRun)
		done = append(done, d...)
		if err != nil {
			errs = append(errs, fmt.Errorf("shard %d: %w", shard, err))
		}
	}
	return done, errors.Join(errs...)
}

func (c *Cluster) dropExpiredOn(ctx context.Context, shard, months int, now time.Time, dryRun bool) ([]ShardPartition, error) {
	var stores []*Store
	var errs []error
	for _, n := range c.Replicas(shard) {
		st, err := c.OpenNode(ctx, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		defer st.Close()
		stores = append(stores, st)
	}
	if len(stores) == 0 {
		return nil, fmt.Errorf("no replica answers: %w", errors.Join(errs...))
	}
	type key struct{ table, partition string }
	expired := map[key]Partition{}
	for _, st := range stores {
		parts, err := st.ExpiredPartitions(ctx, months, now)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			k := key{p.Table, p.Partition}
			if old, ok := expired[k]; !ok || p.Rows > old.Rows {
				expired[k] = p
			}
		}
	}
	var list []Partition
	for _, p := range expired {
		list = append(list, p)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Partition != list[j].Partition {
			return list[i].Partition < list[j].Partition
		}
		return list[i].Table < list[j].Table
	})
	var done []ShardPartition
	for _, p := range list {
		if dryRun {
			done = append(done, ShardPartition{shard, p})
			continue
		}
		leader, err := leaderOf(ctx, stores, p.Table)
		if err != nil {
			return done, err
		}
		q := fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION %d", quoteIdent(leader.db), quoteIdent(p.Table), p.Month)
		if err := leader.conn.Exec(ctx, q); err != nil {
			return done, fmt.Errorf("chstore: drop partition %s of %s.%s: %w", p.Partition, leader.db, p.Table, err)
		}
		done = append(done, ShardPartition{shard, p})
	}
	return done, nil
}

// leaderOf returns the store whose server leads table.
func leaderOf(ctx context.Context, stores []*Store, table string) (*Store, error) {
	for _, st := range stores {
		var leads uint8
		err := st.conn.QueryRow(ctx, "SELECT is_leader FROM system.replicas WHERE database = ? AND table = ?", st.db, table).Scan(&leads)
		if err == nil && leads == 1 {
			return st, nil
		}
	}
	return nil, fmt.Errorf("chstore: no replica that answers leads %s", table)
}

// retainCluster is Retain on the shards of cluster o.Cluster.
func retainCluster(ctx context.Context, c *Cluster, months int, dryRun bool, now time.Time, w io.Writer) error {
	parts, err := c.DropExpired(ctx, months, now, dryRun)
	verb := "dropped"
	if dryRun {
		verb = "would drop"
	}
	var rows uint64
	for _, p := range parts {
		rows += p.Rows
		fmt.Fprintf(w, "%s\t%s.%s\tshard %d\tpartition %s\t%d rows\t%d bytes\n", verb, c.opts.Database, p.Table, p.Shard, p.Partition.Partition, p.Rows, p.Bytes)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s %d partitions (%d rows) older than %d (keeping %d months before %s) in %s on the %d shards of %s\n",
		verb, len(parts), rows, RetentionCutoff(now, months), months, now.UTC().Format("2006-01"), c.opts.Database, c.Shards(), c.Name)
	return nil
}
