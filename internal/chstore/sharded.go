package chstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Sharded is what the sink writes to on a cluster: the methods it calls on a
// Store of one server (Table, Resume, Insert, the event_ids reads and expiry),
// routed by Kafka partition to the local tables of the partition's shard
// (Cluster.ShardOf). It holds one connection pool per server of the cluster,
// dialled when first needed, so that it opens while a server is down.
//
// Writes. Insert splits the rows by shard, keeping their order, and sends each
// shard's rows as one block to one replica of the shard: the one that took the
// last block, or else the next in order. When that replica fails, the same
// block, byte for byte, goes to the next one. The block carries its inserted_at
// (the hour of its first attempt, kept by the Rows until Reset) rather than
// taking the server's DEFAULT, so every attempt is the same block, and a
// replicated table stores a block whose checksum its shard already recorded in
// ZooKeeper only once (insert_deduplicate, on by default): an attempt that was
// written but not acknowledged, on either replica, is not written twice. The
// views over the table (the rollups) derive the same block from it and
// deduplicate it in their own replicated tables the same way; so does a
// batch's block of ids (InsertIDs), whose inserted_hour is fixed the same
// way. ClickHouse 18.16 remembers the last replicated_deduplication_window
// (100) blocks of each table of a shard; the sink's resume points cover an
// attempt older than that.
//
// Reads. A read of the stored offsets or ids of a partition (Resume,
// StoredIDs, HasStoredID) asks every replica of its shard and takes the
// highest offset, or every id: each acknowledged block is on the replica that
// took it, whatever the others fetched yet. When a replica does not answer,
// the replicas that do are trusted only once none of them has a part left to
// fetch (system.replicas: nothing between its log pointer and the end of the
// shard's replication log, no insert in its queue), checked before they are
// read again; otherwise the read fails with ErrReplicaBehind and the caller
// retries. The other ways were measured against this one (README,
// Deployment): select_sequential_consistency reads only what an insert_quorum
// INSERT wrote, and on 18.16 a quorum INSERT fails while another one of the
// same table is unfinished, which several sinks writing a shard do all the
// time; and a quorum of 2 of 2 replicas stops every write while one is down.
type Sharded struct {
	c      *Cluster
	tables map[string]*Table
	ver    string
	shards map[int]*shardConns
	// OnFailover, when set, is called each time a replica failed a block that
	// another replica of its shard then took, with the replica that failed and
	// its error. Set it before the first Insert; the shards of one Insert call
	// it concurrently.
	OnFailover func(shard int, failed Node, err error)
}

// ErrReplicaBehind means a replica of the shard did not answer and those that
// did have not fetched every part of the shard yet: what they hold may lack
// rows the missing one acknowledged.
var ErrReplicaBehind = errors.New("chstore: a replica does not answer and the others have parts left to fetch")

type shardConns struct {
	c         *Cluster
	owner     *Sharded // its OnFailover
	shard     int
	nodes     []Node
	mu        sync.Mutex
	stores    []*Store // nil until connected
	preferred int      // the replica that took the last block
}

// OpenSharded connects to the servers of the cluster that answer; it fails
// when none does. A server that does not is dialled again when needed.
func (c *Cluster) OpenSharded(ctx context.Context) (*Sharded, error) {
	s := &Sharded{c: c, shards: map[int]*shardConns{}}
	for shard := 1; shard <= c.Shards(); shard++ {
		nodes := c.Replicas(shard)
		s.shards[shard] = &shardConns{c: c, owner: s, shard: shard, nodes: nodes, stores: make([]*Store, len(nodes))}
	}
	var errs []error
	for shard := 1; shard <= c.Shards(); shard++ {
		sh := s.shards[shard]
		for i := range sh.nodes {
			st, err := sh.node(ctx, i)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if s.tables == nil {
				s.tables, s.ver = st.tables, st.version
			}
		}
	}
	if s.tables == nil {
		return nil, fmt.Errorf("chstore: no server of cluster %s answers: %w", c.Name, errors.Join(errs...))
	}
	return s, nil
}

// node returns the Store of replica i, connecting to it first if need be.
func (sh *shardConns) node(ctx context.Context, i int) (*Store, error) {
	sh.mu.Lock()
	st := sh.stores[i]
	sh.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := sh.c.OpenNode(ctx, sh.nodes[i])
	if err != nil {
		return nil, err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.stores[i] != nil { // connected meanwhile
		st.Close()
		return sh.stores[i], nil
	}
	sh.stores[i] = st
	return st, nil
}

// Close closes every connection.
func (s *Sharded) Close() error {
	var errs []error
	for _, sh := range s.shards {
		sh.mu.Lock()
		for i, st := range sh.stores {
			if st != nil {
				errs = append(errs, st.Close())
				sh.stores[i] = nil
			}
		}
		sh.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Database name.
func (s *Sharded) Database() string { return s.c.opts.Database }

// Version of the first server that answered.
func (s *Sharded) Version() string { return s.ver }

// Cluster the store writes to.
func (s *Sharded) Cluster() *Cluster { return s.c }

// Table returns the local table of an event kind (the same on every shard).
func (s *Sharded) Table(kind string) (*Table, bool) {
	t, ok := s.tables[kind]
	return t, ok
}

// Ping checks that every shard has a replica that answers.
func (s *Sharded) Ping(ctx context.Context) error {
	for shard := 1; shard <= len(s.shards); shard++ {
		sh := s.shards[shard]
		var errs []error
		for i := range sh.nodes {
			st, err := sh.node(ctx, i)
			if err == nil {
				err = st.Ping(ctx)
			}
			if err == nil {
				errs = nil
				break
			}
			errs = append(errs, err)
		}
		if errs != nil {
			return fmt.Errorf("chstore: no replica of shard %d answers: %w", shard, errors.Join(errs...))
		}
	}
	return nil
}

// byShard groups partitions by their shard.
func (s *Sharded) byShard(partitions []int) map[*shardConns][]int {
	out := map[*shardConns][]int{}
	for _, p := range partitions {
		sh := s.shards[s.c.ShardOf(p)]
		out[sh] = append(out[sh], p)
	}
	return out
}

// Insert sends the rows of each shard as one block to one of its replicas,
// the shards at once, and returns nil once every shard acknowledged its block
// (see Sharded). The rows keep the hour of the first attempt as their
// inserted_at until Reset.
func (s *Sharded) Insert(ctx context.Context, r *Rows) error {
	if r.Len() == 0 {
		return nil
	}
	if r.insertedAt.IsZero() {
		r.insertedAt = time.Now().UTC().Truncate(time.Hour)
	}
	shardOf := s.shardOf(r.parts)
	shards := distinct(shardOf)
	if len(shards) == 1 {
		return s.shards[shards[0]].insert(ctx, func(st *Store) error { return st.insertStamped(ctx, r) })
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, shard := range shards {
		sub := r.subset(func(i int) bool { return shardOf[r.parts[i]] == shard })
		g.Go(func() error {
			return s.shards[shard].insert(gctx, func(st *Store) error { return st.insertStamped(gctx, sub) })
		})
	}
	return g.Wait()
}

// InsertIDs stores the ids of each shard's partitions in that shard's
// event_ids, the shards at once, each as one block to one of its replicas and
// the same block to the next while they fail, like Insert.
func (s *Sharded) InsertIDs(ctx context.Context, x *IDs) error {
	if x.Len() == 0 {
		return nil
	}
	x.stamp()
	shardOf := s.shardOf(x.parts)
	g, gctx := errgroup.WithContext(ctx)
	for _, shard := range distinct(shardOf) {
		sub := x.subset(func(p uint32) bool { return shardOf[p] == shard })
		g.Go(func() error {
			return s.shards[shard].insert(gctx, func(st *Store) error { return st.InsertIDs(gctx, sub) })
		})
	}
	return g.Wait()
}

// shardOf maps each partition of parts to its shard, looking each up once.
func (s *Sharded) shardOf(parts []uint32) map[uint32]int {
	out := map[uint32]int{}
	for _, p := range parts {
		if _, ok := out[p]; !ok {
			out[p] = s.c.ShardOf(int(p))
		}
	}
	return out
}

func distinct(m map[uint32]int) []int {
	seen := map[int]bool{}
	var out []int
	for _, v := range m {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// insert sends one block (send, the same block at every call) to the
// preferred replica, and to the next ones in turn while they fail.
func (sh *shardConns) insert(ctx context.Context, send func(*Store) error) error {
	sh.mu.Lock()
	first := sh.preferred
	sh.mu.Unlock()
	var errs []error
	for k := range sh.nodes {
		i := (first + k) % len(sh.nodes)
		st, err := sh.node(ctx, i)
		if err == nil {
			err = send(st)
		}
		if err == nil {
			sh.mu.Lock()
			sh.preferred = i
			sh.mu.Unlock()
			if k > 0 && sh.owner != nil && sh.owner.OnFailover != nil {
				for j := range k { // every replica tried before this one failed
					f := (first + j) % len(sh.nodes)
					sh.owner.OnFailover(sh.shard, sh.nodes[f], errs[j])
				}
			}
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", sh.nodes[i], err))
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("chstore: no replica of shard %d took the block: %w", sh.shard, errors.Join(errs...))
}

// readAll runs read on every replica of the shard. When some do not answer,
// it checks that those that did have fetched every part of the shard and runs
// read on them again: read must merge what it reads (highest offset, union of
// ids), so that reading a replica twice changes nothing.
func (sh *shardConns) readAll(ctx context.Context, read func(*Store) error) error {
	var answered []*Store
	var errs []error
	for i := range sh.nodes {
		st, err := sh.node(ctx, i)
		if err == nil {
			err = read(st)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", sh.nodes[i], err))
			continue
		}
		answered = append(answered, st)
	}
	if len(errs) == 0 {
		return nil
	}
	if len(answered) == 0 || ctx.Err() != nil {
		return fmt.Errorf("chstore: no replica of shard %d answers: %w", sh.shard, errors.Join(errs...))
	}
	for _, st := range answered {
		if err := st.caughtUp(ctx); err != nil {
			return fmt.Errorf("shard %d: %w (%w)", sh.shard, err, errors.Join(errs...))
		}
	}
	for _, st := range answered {
		if err := read(st); err != nil {
			return fmt.Errorf("chstore: shard %d: %w", sh.shard, err)
		}
	}
	return nil
}

// caughtUp returns nil when the server's replicated tables of the database
// have every part their shard's replication log lists (as far as it knows
// now), and ErrReplicaBehind when they do not. A replica has copied the log up
// to log_pointer - 1 into its queue; log_max_index is the log's last entry,
// and 0 also when the log is empty, so a pointer of 0 is checked against the
// log in ZooKeeper itself.
func (s *Store) caughtUp(ctx context.Context) error {
	rows, err := s.conn.Query(ctx, `SELECT table, zookeeper_path, log_pointer, log_max_index, inserts_in_queue, is_session_expired OR is_readonly
		FROM system.replicas WHERE database = ?`, s.db)
	if err != nil {
		return fmt.Errorf("chstore: replication state of %s: %w", s.db, err)
	}
	defer rows.Close()
	type state struct {
		table, zk        string
		pointer, max     uint64
		inserts          uint32
		withoutZooKeeper uint8
	}
	var states []state
	for rows.Next() {
		var st state
		if err := rows.Scan(&st.table, &st.zk, &st.pointer, &st.max, &st.inserts, &st.withoutZooKeeper); err != nil {
			return fmt.Errorf("chstore: replication state of %s: %w", s.db, err)
		}
		states = append(states, st)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("chstore: replication state of %s: %w", s.db, err)
	}
	for _, st := range states {
		behind := st.pointer <= st.max
		if st.pointer == 0 && st.max == 0 {
			var entries uint64
			if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = ?", st.zk+"/log").Scan(&entries); err != nil {
				return fmt.Errorf("chstore: replication log of %s.%s: %w", s.db, st.table, err)
			}
			behind = entries > 0
		}
		switch {
		case st.withoutZooKeeper != 0:
			return fmt.Errorf("%w: %s.%s has no ZooKeeper session", ErrReplicaBehind, s.db, st.table)
		case behind:
			return fmt.Errorf("%w: %s.%s has not read its replication log to the end", ErrReplicaBehind, s.db, st.table)
		case st.inserts > 0:
			return fmt.Errorf("%w: %s.%s has %d parts to fetch", ErrReplicaBehind, s.db, st.table, st.inserts)
		}
	}
	return nil
}

// Resume returns the highest offset stored per table, partition and month on
// the shards of the partitions, from every replica (Store.Resume).
func (s *Sharded) Resume(ctx context.Context, partitions ...int) (map[ResumeKey]int64, error) {
	out := map[ResumeKey]int64{}
	for sh, parts := range s.byShard(partitions) {
		err := sh.readAll(ctx, func(st *Store) error {
			r, err := st.Resume(ctx, parts...)
			for k, v := range r {
				if old, ok := out[k]; !ok || v > old {
					out[k] = v
				}
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// StoredIDs calls fn with the ids of partition stored above offset after
// since, as Store.StoredIDs does, reading every replica of its shard: an id
// may come twice.
func (s *Sharded) StoredIDs(ctx context.Context, partition int, after int64, since time.Time, fn func(StoredID) error) error {
	sh := s.shards[s.c.ShardOf(partition)]
	return sh.readAll(ctx, func(st *Store) error { return st.StoredIDs(ctx, partition, after, since, fn) })
}

// HasStoredID reports whether a replica of the partition's shard holds the
// record at offset in event_ids.
func (s *Sharded) HasStoredID(ctx context.Context, partition int, offset int64) (bool, error) {
	sh := s.shards[s.c.ShardOf(partition)]
	has := false
	err := sh.readAll(ctx, func(st *Store) error {
		if has {
			return nil
		}
		h, err := st.HasStoredID(ctx, partition, offset)
		has = has || h
		return err
	})
	if has {
		return true, nil // one replica holding it is enough, whatever the others say
	}
	return false, err
}

// DropStoredIDsBefore drops the old days of event_ids (Store.DropStoredIDsBefore)
// on every shard, on the replica that leads the shard's event_ids: 18.16 hands
// a DROP PARTITION sent to another replica to the leader as the default user.
// Replication drops them on the other replicas. Like the Store's, it is
// idempotent and safe to run from several sinks at once.
func (s *Sharded) DropStoredIDsBefore(ctx context.Context, cutoff time.Time) ([]uint32, error) {
	seen := map[uint32]bool{}
	var days []uint32
	var errs []error
	for shard := 1; shard <= len(s.shards); shard++ {
		st, err := s.shards[shard].leader(ctx, "event_ids"+LocalSuffix)
		if err == nil {
			var d []uint32
			d, err = st.DropStoredIDsBefore(ctx, cutoff)
			for _, day := range d {
				if !seen[day] {
					seen[day] = true
					days = append(days, day)
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("shard %d: %w", shard, err))
		}
	}
	return days, errors.Join(errs...)
}

// leader returns the replica of the shard that leads table (system.replicas).
func (sh *shardConns) leader(ctx context.Context, table string) (*Store, error) {
	var errs []error
	for i := range sh.nodes {
		st, err := sh.node(ctx, i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var leads uint8
		if err := st.conn.QueryRow(ctx, "SELECT is_leader FROM system.replicas WHERE database = ? AND table = ?", st.db, table).Scan(&leads); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", sh.nodes[i], err))
			continue
		}
		if leads == 1 {
			return st, nil
		}
	}
	return nil, fmt.Errorf("chstore: no replica of shard %d that answers leads %s: %w", sh.shard, table, errors.Join(errs...))
}
