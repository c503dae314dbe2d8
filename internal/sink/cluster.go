package sink

import (
	"context"
	"errors"
	"log/slog"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/schemas"
)

// errClusterRun: sink run does not write to a cluster's shards yet.
var errClusterRun = errors.New("--clickhouse-cluster: sink run writes to one server only for now (sink migrate creates a cluster's tables)")

// migrateCluster applies the migrations to every server of the cluster
// (chstore.Cluster.Migrate) and logs what each server got.
func migrateCluster(ctx context.Context, cfg Config, reg *schemas.Registry, log *slog.Logger) error {
	c, err := chstore.OpenCluster(ctx, cfg.ClickHouseOptions(), reg)
	if err != nil {
		return err
	}
	res, err := c.Migrate(ctx)
	for _, r := range res {
		for _, m := range r.Applied {
			log.Info("migration applied", "migration", m.Name, "server", r.Node.Addr, "shard", r.Node.Shard, "replica", r.Node.Replica)
		}
		if r.Err != nil {
			log.Warn("server left out: it does not answer, and every server that does is up to date", "server", r.Node.Addr, "shard", r.Node.Shard, "replica", r.Node.Replica, "err", r.Err)
		}
	}
	if err == nil {
		log.Info("schema up to date", "database", cfg.ClickHouse.Database, "cluster", c.Name, "shards", c.Shards(), "servers", len(c.Nodes))
	}
	return err
}
