package chstore

import (
	"context"
	"errors"
	"fmt"
)

// NodeMigrations is what Cluster.Migrate did on one server.
type NodeMigrations struct {
	Node    Node
	Version string      // the server's version
	Applied []Migration // the migrations applied there by this run, in order
	// Err is why the server was left out: it did not answer, while every
	// server that did had every migration already. Nil otherwise.
	Err error
}

// ErrUnreachable means a server of the cluster did not answer, and the
// migrations could not be applied without it.
var ErrUnreachable = errors.New("chstore: a server of the cluster does not answer")

// Migrate applies the embedded migrations to every server of the cluster, as
// RenderCluster renders them, and records each version in the server's own
// schema_migrations (a TinyLog table: it is not replicated). Migrations go in
// version order, each on every server before the next: a server runs the
// statements of every server, and the first server of a shard that lacks the
// migration, while no replica of the shard has it recorded, also runs the
// statements for one replica of each shard. It is idempotent, and safe to run
// from several sinks at once as Store.Migrate is (a data statement may then run
// twice on a shard, as it may on one server).
//
// Every server must answer while something is left to apply; when every server
// that answers has every migration and each shard has one that answers, the
// servers that did not are reported in their NodeMigrations' Err and Migrate
// succeeds, so that a sink can start while a replica is down. The servers the
// migrations were applied to are listed in order even when an error stops it.
func (c *Cluster) Migrate(ctx context.Context) ([]NodeMigrations, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	type server struct {
		node    Node
		store   *Store
		applied map[int]bool
		res     *NodeMigrations
	}
	results := make([]NodeMigrations, len(c.Nodes))
	var servers []*server
	var down []error
	behind := false
	for i, n := range c.Nodes {
		results[i].Node = n
		st, err := c.OpenNode(ctx, n)
		if err != nil {
			results[i].Err = err
			down = append(down, err)
			continue
		}
		defer st.Close()
		applied, err := st.migrationState(ctx)
		if err != nil {
			return results, fmt.Errorf("chstore: server %s: %w", n, err)
		}
		results[i].Version = st.Version()
		for _, m := range all {
			behind = behind || !applied[m.Version]
		}
		servers = append(servers, &server{node: n, store: st, applied: applied, res: &results[i]})
	}
	if len(down) > 0 {
		reached := map[int]bool{}
		for _, s := range servers {
			reached[s.node.Shard] = true
		}
		for shard := 1; shard <= c.Shards(); shard++ {
			behind = behind || !reached[shard]
		}
		if behind {
			return results, fmt.Errorf("%w (cluster %s): %w", ErrUnreachable, c.Name, errors.Join(down...))
		}
		return results, nil
	}
	for _, m := range all {
		shardHas := map[int]bool{}
		for _, s := range servers {
			shardHas[s.node.Shard] = shardHas[s.node.Shard] || s.applied[m.Version]
		}
		for _, s := range servers {
			if s.applied[m.Version] {
				continue
			}
			stmts, err := RenderCluster(m.SQL, c.opts.Database, c.Name, s.store.Features())
			if err != nil {
				return results, fmt.Errorf("chstore: render %s: %w", m.Name, err)
			}
			for _, st := range stmts {
				if st.Scope == OnePerShard && shardHas[s.node.Shard] {
					continue
				}
				if err := s.store.conn.Exec(ctx, st.SQL); err != nil {
					return results, fmt.Errorf("chstore: server %s: migration %s: %w", s.node, m.Name, err)
				}
			}
			if err := s.store.record(ctx, m); err != nil {
				return results, fmt.Errorf("chstore: server %s: record %s: %w", s.node, m.Name, err)
			}
			s.applied[m.Version] = true
			shardHas[s.node.Shard] = true
			s.res.Applied = append(s.res.Applied, m)
		}
	}
	return results, nil
}
