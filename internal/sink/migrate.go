package sink

import (
	"context"
	"log/slog"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/schemas"
)

// Migrate connects to ClickHouse and applies the embedded migrations; with
// --clickhouse-cluster, to every server of the cluster (migrateCluster).
func Migrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	reg, err := schemas.Load()
	if err != nil {
		return err
	}
	if cfg.ClickHouse.Cluster != "" {
		return migrateCluster(ctx, cfg, reg, log)
	}
	st, err := chstore.Open(ctx, cfg.ClickHouseOptions(), reg)
	if err != nil {
		return err
	}
	defer st.Close()
	done, err := st.Migrate(ctx)
	for _, m := range done {
		log.Info("migration applied", "migration", m.Name)
	}
	if err == nil {
		log.Info("schema up to date", "database", st.Database(), "server", st.Version(), "low_cardinality", st.Features().LowCardinality)
	}
	return err
}
