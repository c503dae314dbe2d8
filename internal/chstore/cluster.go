package chstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/veiltelemetry/veil/schemas"
)

// Node is one server of a cluster, as the servers' <remote_servers> (and
// system.clusters) list it.
type Node struct {
	Shard   int    // 1-based, in the order of <remote_servers>
	Replica int    // 1-based within the shard
	Weight  int    // the shard's weight
	Addr    string // host:port of its native protocol
}

func (n Node) String() string {
	return fmt.Sprintf("%s (shard %d, replica %d)", n.Addr, n.Shard, n.Replica)
}

// Cluster is a ClickHouse cluster of shards of replicas: every server holds
// the local tables of its shard and Distributed tables over all shards (see
// RenderCluster). It knows its servers; it holds no connection.
type Cluster struct {
	Name  string
	Nodes []Node // by shard, then replica

	opts Options
	reg  *schemas.Registry
}

// ErrNoSuchCluster means the server knows no cluster of that name.
var ErrNoSuchCluster = errors.New("chstore: no such cluster")

// OpenCluster asks the first server of o.Addr (comma-separated) that answers
// for the servers of cluster o.Cluster, as its system.clusters lists them.
func OpenCluster(ctx context.Context, o Options, reg *schemas.Registry) (*Cluster, error) {
	if o.Cluster == "" {
		return nil, fmt.Errorf("chstore: OpenCluster without a cluster name")
	}
	if o.Database == "" {
		o.Database = "veil"
	}
	var errs []error
	for _, addr := range splitAddrs(o.Addr) {
		nodes, err := clusterNodes(ctx, o, addr)
		if err == nil {
			return &Cluster{Name: o.Cluster, Nodes: nodes, opts: o, reg: reg}, nil
		}
		if errors.Is(err, ErrNoSuchCluster) {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("chstore: no server of cluster %s answers: %w", o.Cluster, errors.Join(errs...))
}

func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = []string{"127.0.0.1:9000"}
	}
	return out
}

func clusterNodes(ctx context.Context, o Options, addr string) ([]Node, error) {
	conn, _, err := dial(ctx, o, []string{addr})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rows, err := conn.Query(ctx, `SELECT shard_num, shard_weight, replica_num, host_name, port
		FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num`, o.Cluster)
	if err != nil {
		return nil, fmt.Errorf("chstore: read system.clusters on %s: %w", addr, err)
	}
	defer rows.Close()
	var nodes []Node
	for rows.Next() {
		var shard, weight, replica uint32
		var host string
		var port uint16
		if err := rows.Scan(&shard, &weight, &replica, &host, &port); err != nil {
			return nil, fmt.Errorf("chstore: read system.clusters on %s: %w", addr, err)
		}
		nodes = append(nodes, Node{Shard: int(shard), Replica: int(replica), Weight: int(weight), Addr: fmt.Sprintf("%s:%d", host, port)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("chstore: read system.clusters on %s: %w", addr, err)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: %s knows no cluster %s (its <remote_servers>)", ErrNoSuchCluster, addr, o.Cluster)
	}
	return nodes, nil
}

// Shards returns the number of shards.
func (c *Cluster) Shards() int {
	n := 0
	for _, node := range c.Nodes {
		n = max(n, node.Shard)
	}
	return n
}

// Replicas returns the servers of a shard (1-based), in replica order.
func (c *Cluster) Replicas(shard int) []Node {
	var out []Node
	for _, n := range c.Nodes {
		if n.Shard == shard {
			out = append(out, n)
		}
	}
	return out
}

// ShardOf returns the shard (1-based) whose local tables hold the rows of a
// Kafka partition of the clean topic. It is the shard a Distributed table
// sharded by kafka_partition writes a row of that partition to: the partition
// modulo the sum of the shards' weights picks a slot, and each shard in order
// owns as many slots as its weight. With two shards of weight 1, even
// partitions go to shard 1 and odd ones to shard 2.
//
// The mapping is fixed by the cluster's shards: adding a shard moves
// partitions to other shards, whose tables do not hold their resume points,
// so a cluster grows by moving the data of the partitions that move, or by a
// new database.
func (c *Cluster) ShardOf(partition int) int {
	type slot struct{ shard, weight int }
	var shards []slot
	total := 0
	for _, n := range c.Nodes { // by shard, then replica: one slot per shard
		if len(shards) > 0 && shards[len(shards)-1].shard == n.Shard {
			continue
		}
		w := max(n.Weight, 1)
		shards = append(shards, slot{n.Shard, w})
		total += w
	}
	if total == 0 {
		return 0
	}
	s := partition % total
	for _, sh := range shards {
		if s < sh.weight {
			return sh.shard
		}
		s -= sh.weight
	}
	return shards[len(shards)-1].shard
}

// OpenShard connects to the local tables of a shard (1-based): to its first
// replica, or the next when a connection to one fails. The Store's tables are
// the local ones (Table(kind).Name is db.<kind>_local); it inserts and reads
// resume points there. Replicas copy what one of them was given a moment
// later: a read right after a switch of replica may miss what the other
// received last (see the sink package for how it reads resume points).
func (c *Cluster) OpenShard(ctx context.Context, shard int) (*Store, error) {
	var addrs []string
	for _, n := range c.Replicas(shard) {
		addrs = append(addrs, n.Addr)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("chstore: cluster %s has no shard %d", c.Name, shard)
	}
	s, err := open(ctx, c.opts, addrs, c.reg, LocalSuffix)
	if err != nil {
		return nil, fmt.Errorf("chstore: shard %d of %s: %w", shard, c.Name, err)
	}
	s.cluster = c.Name
	return s, nil
}

// OpenNode connects to one server of the cluster; its Store's tables are the
// server's local tables.
func (c *Cluster) OpenNode(ctx context.Context, n Node) (*Store, error) {
	s, err := open(ctx, c.opts, []string{n.Addr}, c.reg, LocalSuffix)
	if err != nil {
		return nil, fmt.Errorf("chstore: server %s of %s: %w", n, c.Name, err)
	}
	s.cluster = c.Name
	return s, nil
}

// Cluster is the name of the cluster a shard's or server's Store belongs to
// ("" for a Store of one server, from Open).
func (s *Store) Cluster() string { return s.cluster }

// TableName qualifies a table of the migrations by the Store's database: on a
// shard's or server's Store, its local table (db.event_ids_local for
// "event_ids"), elsewhere the table itself (db.event_ids).
func (s *Store) TableName(name string) string {
	if s.cluster != "" {
		name += LocalSuffix
	}
	return s.db + "." + name
}
