package sink

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/schemas"
)

// store is what the sink writes through: a *chstore.Store of one server, or
// with --clickhouse-cluster a *chstore.Sharded that routes each Kafka
// partition to the local tables of its shard (chstore.Cluster.ShardOf).
type store interface {
	Table(kind string) (*chstore.Table, bool)
	Resume(ctx context.Context, partitions ...int) (map[chstore.ResumeKey]int64, error)
	Insert(ctx context.Context, rs *chstore.Rows) error
	InsertIDs(ctx context.Context, ids *chstore.IDs) error
	StoredIDs(ctx context.Context, partition int, after int64, since time.Time, fn func(chstore.StoredID) error) error
	HasStoredID(ctx context.Context, partition int, offset int64) (bool, error)
	DropStoredIDsBefore(ctx context.Context, cutoff time.Time) ([]uint32, error)
	Ping(ctx context.Context) error
	Database() string
	Version() string
	Close() error
}

var (
	_ store = (*chstore.Store)(nil)
	_ store = (*chstore.Sharded)(nil)
)

// openStore connects to the server, or to the servers of the cluster. On a
// cluster, a block that one replica failed and another took is logged and
// counted (veil_sink_replica_failovers_total).
func openStore(ctx context.Context, cfg Config, reg *schemas.Registry, m *metrics, log *slog.Logger) (store, error) {
	if cfg.ClickHouse.Cluster == "" {
		return chstore.Open(ctx, cfg.ClickHouseOptions(), reg)
	}
	c, err := chstore.OpenCluster(ctx, cfg.ClickHouseOptions(), reg)
	if err != nil {
		return nil, err
	}
	sh, err := c.OpenSharded(ctx)
	if err != nil {
		return nil, err
	}
	sh.OnFailover = func(shard int, failed chstore.Node, err error) {
		m.failovers.WithLabelValues(strconv.Itoa(shard)).Inc()
		log.Warn("a replica failed a block; another replica of its shard took it", "shard", shard, "replica", failed.String(), "err", err)
	}
	return sh, nil
}

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
