package bench

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/stream"
)

// Config of a bench run. Register documents every flag; zero values of fields a
// test fills by hand take the defaults named in the comments.
type Config struct {
	BinDir            string             // --bin-dir: where producer, enricher and sink are, default .state/bin
	StateDir          string             // --state-dir: logs go to <state-dir>/bench/<run id>/, default .state
	GeoIP             string             // --geoip: MMDB file for the enricher, default .state/geoip.mmdb
	Catalog           string             // --service-catalog: the enricher's service catalog, default internal/catalog/demo.json
	Brokers           config.List        // --brokers, default 127.0.0.1:9092
	KafkaUser         string             // --kafka-user: the bench and every binary it starts act as this user (it creates and deletes topics: an administrator); empty: no authentication
	KafkaPassword     config.Secret      // --kafka-password-file or VEIL_KAFKA_PASSWORD
	ClickHouseAddr    string             // --clickhouse-addr (native protocol), default 127.0.0.1:9000
	ClickHouseCluster string             // --clickhouse-cluster: the sinks write to the shards of this cluster of the servers' <remote_servers> (--clickhouse-addr lists its servers); empty: one server
	Replication       stream.Replication // --replication-factor and --min-insync-replicas of the run's topics (default: the brokers')
	CHUser            string             // --clickhouse-user of the bench and the sinks (it creates and drops databases), default "default"
	CHPassword        config.Secret      // --clickhouse-password-file or VEIL_CLICKHOUSE_PASSWORD
	CHCompression     string             // --clickhouse-compression of the sink and the insert baselines: lz4 (default), zstd, none
	Database          string             // --clickhouse-db: prefix of the run's databases, default bench_<unix time>
	TopicPrefix       string             // --topic-prefix: prefix of the run's topics and groups, default bench-<unix time>
	Duration          time.Duration      // --duration of the end-to-end run, default 60s
	LatencyDuration   time.Duration      // --latency-duration of the half-rate latency run, default 30s (0 skips it)
	BaselineEvents    int                // --baseline-events: records of the baselines, default 300000
	StageEvents       int                // --stage-events: events of the stage-isolated runs, default --baseline-events
	AvroTime          time.Duration      // --avro-time: how long each per-event loop runs, default 2s
	Partitions        int                // --partitions of the raw and clean topics, default 8
	Compression       string             // --compression of every writer: none, lz4 (default), zstd (gzip, snappy too)
	EnricherBatch     int                // --enricher-batch: the enricher's --batch-records, 0: its default
	SinkBatch         int                // --sink-batch: the sink's --batch-records, 0: its default
	GOMAXPROCS        int                // --gomaxprocs: GOMAXPROCS of the binaries, 0: not set
	Collector         bool               // --collector: load the HTTP collector, default true
	CollectorDuration time.Duration      // --collector-duration, default 20s
	Scale             bool               // --scale: the scale curve, end to end with 1 and 2 instances of each stage holding 1, 2 and 4 partitions each
	Skip              config.List        // --skip: phases to leave out: baselines, stages, e2e
	Keep              bool               // --keep the topics, groups and databases of the run
	Profile           bool               // --profile: CPU and heap profiles of the binaries in the full-rate run, default true
	Out               string             // --out: the JSON results, default bench-results.json

	// Flags are the flag values as given, recorded in the results.
	Flags map[string]string
	// Command is the command line as typed, recorded and printed so that anyone
	// can measure again (scripts/bench passes it in VEIL_BENCH_COMMAND); Argv
	// the tool's own arguments.
	Command string
	Argv    []string
}

// Phases that --skip accepts.
var skippable = []string{"baselines", "stages", "e2e"}

// Register adds the flags to fs with their defaults.
func (c *Config) Register(fs *flag.FlagSet) {
	c.Brokers = config.List{"127.0.0.1:9092"}
	c.Collector = true
	c.Profile = true
	fs.StringVar(&c.BinDir, "bin-dir", ".state/bin", "directory of the producer, enricher and sink binaries")
	fs.StringVar(&c.StateDir, "state-dir", ".state", "logs of the started binaries go to <state-dir>/bench/<run id>/")
	fs.StringVar(&c.GeoIP, "geoip", ".state/geoip.mmdb", "MMDB file for the enricher's IP geolocation (scripts/bench builds it)")
	fs.StringVar(&c.Catalog, "service-catalog", "internal/catalog/demo.json", "the enricher's service catalog (the simulator draws from the demo catalog built in)")
	fs.Var(&c.Brokers, "brokers", "Kafka bootstrap brokers, comma-separated")
	fs.StringVar(&c.KafkaUser, "kafka-user", "", "Kafka user of the bench and of every binary it starts, which create and delete topics: an administrator such as veil-admin (empty: no authentication)")
	config.SecretVar(fs, &c.KafkaPassword, "kafka-password-file", "VEIL_KAFKA_PASSWORD", "file holding the Kafka user's password; the binaries started get it in their environment")
	fs.StringVar(&c.ClickHouseAddr, "clickhouse-addr", "127.0.0.1:9000", "ClickHouse native protocol address")
	fs.StringVar(&c.ClickHouseCluster, "clickhouse-cluster", "", "a cluster of the servers' <remote_servers>: the sinks write to its shards and --clickhouse-addr lists its servers, comma-separated (scripts/bench --cluster); empty: one server")
	fs.IntVar(&c.Replication.Factor, "replication-factor", -1, "copies of each partition of the run's topics; -1: the brokers' default")
	fs.IntVar(&c.Replication.MinInSync, "min-insync-replicas", 0, "min.insync.replicas of the run's topics; 0: the brokers' default")
	fs.StringVar(&c.CHUser, "clickhouse-user", "default", "ClickHouse user of the bench and of the sinks it starts, which create and drop databases: an administrator")
	config.SecretVar(fs, &c.CHPassword, "clickhouse-password-file", "VEIL_CLICKHOUSE_PASSWORD", "file holding the ClickHouse user's password; the sinks started get it in their environment")
	fs.StringVar(&c.CHCompression, "clickhouse-compression", "lz4", "compression of the blocks sent to ClickHouse by the sink and the insert baselines: lz4, zstd, none")
	fs.StringVar(&c.Database, "clickhouse-db", "", "prefix of the run's ClickHouse databases (default bench_<unix time>)")
	fs.StringVar(&c.TopicPrefix, "topic-prefix", "", "prefix of the run's topics and consumer groups (default bench-<unix time>)")
	fs.DurationVar(&c.Duration, "duration", 60*time.Second, "length of the end-to-end run (producer simulate --duration)")
	fs.DurationVar(&c.LatencyDuration, "latency-duration", 30*time.Second, "length of the latency run at half the end-to-end rate (0 skips it)")
	fs.IntVar(&c.BaselineEvents, "baseline-events", 300000, "records written, read, converted and inserted by the baselines")
	fs.IntVar(&c.StageEvents, "stage-events", 0, "events of the stage-isolated runs (0: --baseline-events)")
	fs.DurationVar(&c.AvroTime, "avro-time", 2*time.Second, "how long the naive goavro loop and the enricher loop each run, in alternating rounds")
	fs.IntVar(&c.Partitions, "partitions", 8, "partitions of the raw and clean topics (and of the baseline topic)")
	fs.StringVar(&c.Compression, "compression", "lz4", "compression of every writer, passed to every binary: none, lz4, zstd (gzip, snappy)")
	fs.IntVar(&c.EnricherBatch, "enricher-batch", 0, "the enricher's --batch-records (0: its default)")
	fs.IntVar(&c.SinkBatch, "sink-batch", 0, "the sink's --batch-records (0: its default)")
	fs.IntVar(&c.GOMAXPROCS, "gomaxprocs", 0, "GOMAXPROCS of the started binaries (0: not set)")
	fs.BoolVar(&c.Collector, "collector", true, "load the HTTP collector (producer serve) with producer loadgen")
	fs.DurationVar(&c.CollectorDuration, "collector-duration", 20*time.Second, "length of the collector load run")
	fs.BoolVar(&c.Scale, "scale", false, "the scale curve: the end-to-end run again (--duration each) with 1 and 2 enrichers and sinks, each instance holding 1, 2 and 4 partitions")
	fs.Var(&c.Skip, "skip", "phases to leave out, comma-separated: "+strings.Join(skippable, ", "))
	fs.BoolVar(&c.Profile, "profile", true, "take CPU and heap profiles of every binary during the full-rate run (into the run's log directory) and print where their CPU went")
	fs.BoolVar(&c.Keep, "keep", false, "keep the run's topics, consumer groups and databases")
	fs.StringVar(&c.Out, "out", "bench-results.json", "file the results are written to as JSON")
}

// FlagValues returns every flag of fs with its value, for the results.
func FlagValues(fs *flag.FlagSet) map[string]string {
	out := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { out[f.Name] = f.Value.String() })
	return out
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	if _, err := stream.ParseCompression(c.Compression); err != nil {
		return fmt.Errorf("--compression: %w", err)
	}
	if _, err := chstore.ParseCompression(c.CHCompression); err != nil {
		return fmt.Errorf("--clickhouse-compression: %w", err)
	}
	if err := c.Replication.Validate(); err != nil {
		return err
	}
	for _, s := range c.Skip {
		if !slices.Contains(skippable, s) {
			return fmt.Errorf("--skip: unknown phase %q (%s)", s, strings.Join(skippable, ", "))
		}
	}
	switch {
	case c.BinDir == "":
		return fmt.Errorf("--bin-dir must not be empty")
	case len(c.Brokers) == 0:
		return fmt.Errorf("--brokers: at least one broker is required")
	case (c.KafkaUser == "") != (c.KafkaPassword.Value() == ""):
		return fmt.Errorf("--kafka-user and its password (--kafka-password-file or VEIL_KAFKA_PASSWORD) go together")
	case c.ClickHouseAddr == "":
		return fmt.Errorf("--clickhouse-addr must not be empty")
	case c.ClickHouseCluster == "" && strings.Contains(c.ClickHouseAddr, ","):
		return fmt.Errorf("--clickhouse-addr %s: several servers are the servers of a cluster (--clickhouse-cluster)", c.ClickHouseAddr)
	case c.Duration < time.Second:
		return fmt.Errorf("--duration: at least 1s, got %s", c.Duration)
	case c.LatencyDuration < 0:
		return fmt.Errorf("--latency-duration: must not be negative, got %s", c.LatencyDuration)
	case c.BaselineEvents < 1000:
		return fmt.Errorf("--baseline-events: at least 1000, got %d", c.BaselineEvents)
	case c.StageEvents < 0:
		return fmt.Errorf("--stage-events: must not be negative, got %d", c.StageEvents)
	case c.AvroTime <= 0:
		return fmt.Errorf("--avro-time: must be positive, got %s", c.AvroTime)
	case c.Partitions <= 0:
		return fmt.Errorf("--partitions: must be positive, got %d", c.Partitions)
	case c.EnricherBatch < 0 || c.SinkBatch < 0:
		return fmt.Errorf("--enricher-batch and --sink-batch must not be negative")
	case c.GOMAXPROCS < 0:
		return fmt.Errorf("--gomaxprocs: must not be negative, got %d", c.GOMAXPROCS)
	case c.Collector && c.CollectorDuration < time.Second:
		return fmt.Errorf("--collector-duration: at least 1s, got %s", c.CollectorDuration)
	case c.Out == "":
		return fmt.Errorf("--out must not be empty")
	}
	if c.Database != "" && strings.Trim(c.Database, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" {
		return fmt.Errorf("--clickhouse-db: letters, digits and _ only, got %q", c.Database)
	}
	return nil
}

func (c *Config) skip(phase string) bool { return slices.Contains(c.Skip, phase) }

// chOptions connect the bench to database db as --clickhouse-user.
func (c *Config) chOptions(db string) chstore.Options {
	return chstore.Options{Addr: c.ClickHouseAddr, Database: db, User: c.CHUser, Password: c.CHPassword.Value(), Compression: c.CHCompression, Cluster: c.ClickHouseCluster}
}

// secretEnv hands the passwords to the started binaries in their environment.
func (c *Config) secretEnv() []string {
	var env []string
	if v := c.KafkaPassword.Value(); v != "" {
		env = append(env, "VEIL_KAFKA_PASSWORD="+v)
	}
	if v := c.CHPassword.Value(); v != "" {
		env = append(env, "VEIL_CLICKHOUSE_PASSWORD="+v)
	}
	return env
}

// withDefaults fills what depends on the run: names from the start time.
func (c Config) withDefaults(now time.Time) Config {
	if c.Database == "" {
		c.Database = fmt.Sprintf("bench_%d", now.Unix())
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = fmt.Sprintf("bench-%d", now.Unix())
	}
	if c.StageEvents == 0 {
		c.StageEvents = c.BaselineEvents
	}
	return c
}

// ShellJoin quotes args for a POSIX shell where they need it and joins them.
func ShellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:@+%") == "" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
