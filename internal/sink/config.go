package sink

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/stream"
)

// Config of the sink.
type Config struct {
	Kafka      stream.Kafka
	Group      string          // --group, default veil-sink
	Batch      stream.Batching // --batch-records (default 25000), --batch-wait (default 1s)
	ClickHouse chstore.Options // --clickhouse-addr (127.0.0.1:9000), --clickhouse-db (veil), --clickhouse-user (default), --clickhouse-compression (lz4), --clickhouse-cluster (none: one server); its Password is filled by ClickHouseOptions
	// ClickHousePassword: --clickhouse-password-file, or the password itself in
	// VEIL_CLICKHOUSE_PASSWORD; none by default.
	ClickHousePassword config.Secret
	MetricsAddr        string // --metrics-addr, default 127.0.0.1:9103; empty disables
	Dedup              Dedup
}

// Dedup configures the index of stored event ids (package dedup).
type Dedup struct {
	Dir       string        // --dedup-dir, default .state/sink-dedup; one per sink instance
	Horizon   time.Duration // --dedup-horizon, default 24h: how long after a copy a later copy is still dropped
	MemoryMiB int           // --dedup-memory, default 16: MiB of memtables and block cache
}

// Register adds the flags to fs with their defaults.
func (c *Config) Register(fs *flag.FlagSet) {
	c.Kafka.Register(fs)
	fs.StringVar(&c.Group, "group", "veil-sink", "Kafka consumer group")
	fs.IntVar(&c.Batch.MaxRecords, "batch-records", 25000, "records per batch; a batch gathers every partition this instance holds and is one INSERT per table")
	fs.DurationVar(&c.Batch.MaxWait, "batch-wait", time.Second, "how long a batch waits to fill after its first record")
	fs.DurationVar(&c.Batch.Drain, "drain-timeout", stream.DrainTimeout, "after a signal, how long the batch in hand may take to finish (no retries); what does not finish stays uncommitted and is processed again by the next run")
	fs.StringVar(&c.ClickHouse.Addr, "clickhouse-addr", "127.0.0.1:9000", "ClickHouse native protocol address; with --clickhouse-cluster, one or more of its servers, comma-separated")
	fs.StringVar(&c.ClickHouse.Cluster, "clickhouse-cluster", "", "a cluster of the servers' <remote_servers>: migrate creates replicated tables on every shard and Distributed tables over them, run writes each partition to its shard's replicas (empty: one server)")
	fs.StringVar(&c.ClickHouse.Database, "clickhouse-db", "veil", "ClickHouse database")
	fs.StringVar(&c.ClickHouse.User, "clickhouse-user", "default", "ClickHouse user (scripts/clickhouse's veil_sink may write only its database)")
	config.SecretVar(fs, &c.ClickHousePassword, "clickhouse-password-file", "VEIL_CLICKHOUSE_PASSWORD", "file holding the ClickHouse user's password")
	fs.StringVar(&c.ClickHouse.Compression, "clickhouse-compression", "lz4", "compression of the blocks sent to ClickHouse: lz4, zstd or none (none saves CPU when ClickHouse runs on the same machine)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "127.0.0.1:9103", "address of /metrics, /healthz and /readyz; empty disables")
	fs.StringVar(&c.Dedup.Dir, "dedup-dir", ".state/sink-dedup", "directory of this instance's index of stored event ids (each sink instance needs its own; an empty one is rebuilt from ClickHouse)")
	fs.DurationVar(&c.Dedup.Horizon, "dedup-horizon", 24*time.Hour, "a copy of an event arriving within this long of the first is not stored again; every sink of a group must use the same")
	fs.IntVar(&c.Dedup.MemoryMiB, "dedup-memory", 16, "MiB of memory for the index of stored event ids (memtables and block cache)")
}

// ClickHouseOptions are the options the sink connects to ClickHouse with, the
// password included.
func (c *Config) ClickHouseOptions() chstore.Options {
	o := c.ClickHouse
	o.Password = c.ClickHousePassword.Value()
	return o
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	if err := stream.ValidateConsumer(&c.Kafka, c.Group, c.Batch); err != nil {
		return err
	}
	switch {
	case c.Dedup.Dir == "":
		return fmt.Errorf("--dedup-dir must not be empty")
	case c.Dedup.Horizon < time.Second:
		return fmt.Errorf("--dedup-horizon: must be at least 1s, got %s", c.Dedup.Horizon)
	case c.Dedup.MemoryMiB < 4:
		return fmt.Errorf("--dedup-memory: must be at least 4 (MiB), got %d", c.Dedup.MemoryMiB)
	case c.ClickHouse.Addr == "":
		return fmt.Errorf("--clickhouse-addr must not be empty")
	case c.ClickHouse.Database == "":
		return fmt.Errorf("--clickhouse-db must not be empty")
	case c.ClickHouse.Cluster == "" && strings.Contains(c.ClickHouse.Addr, ","):
		return fmt.Errorf("--clickhouse-addr %s: several servers are the servers of a cluster (--clickhouse-cluster)", c.ClickHouse.Addr)
	}
	if _, err := chstore.ParseCompression(c.ClickHouse.Compression); err != nil {
		return fmt.Errorf("--clickhouse-compression: %w", err)
	}
	return nil
}
