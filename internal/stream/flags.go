package stream

import (
	"context"
	"flag"
	"fmt"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/config"
)

// Kafka is the Kafka configuration every binary shares.
type Kafka struct {
	Brokers      config.List   // --brokers, default 127.0.0.1:9092
	User         string        // --kafka-user: SCRAM-SHA-512 user; empty: PLAINTEXT without authentication
	Password     config.Secret // --kafka-password-file, or the password itself in VEIL_KAFKA_PASSWORD
	Topics       Topics        // --topic-raw, --topic-clean, --topic-consent, --topic-deadletter
	CreateTopics bool          // --create-topics: create missing topics at start
	Partitions   int           // --partitions for created raw and clean topics, default 8
	Replication  Replication   // --replication-factor (default -1: the broker's) and --min-insync-replicas (default 0: the broker's) of created topics
	Compression  string        // --compression of produced batches, default lz4
}

// Register adds the shared flags to fs with their defaults.
func (k *Kafka) Register(fs *flag.FlagSet) {
	k.Brokers = config.List{"127.0.0.1:9092"}
	k.Topics = DefaultTopics()
	fs.Var(&k.Brokers, "brokers", "Kafka bootstrap brokers, comma-separated")
	fs.StringVar(&k.User, "kafka-user", "", "Kafka user, authenticated with "+Mechanism+" (empty: no authentication)")
	config.SecretVar(fs, &k.Password, "kafka-password-file", "VEIL_KAFKA_PASSWORD", "file holding the Kafka user's password")
	fs.StringVar(&k.Topics.Raw, "topic-raw", k.Topics.Raw, "topic of raw events (may hold identifiers)")
	fs.StringVar(&k.Topics.Clean, "topic-clean", k.Topics.Clean, "topic of clean events")
	fs.StringVar(&k.Topics.Consent, "topic-consent", k.Topics.Consent, "compacted topic of per-installation opt-outs")
	fs.StringVar(&k.Topics.DeadLetter, "topic-deadletter", k.Topics.DeadLetter, "topic of records that could not be processed")
	fs.BoolVar(&k.CreateTopics, "create-topics", false, "create missing topics at start")
	fs.IntVar(&k.Partitions, "partitions", 8, "partitions of the raw and clean topics when created")
	fs.IntVar(&k.Replication.Factor, "replication-factor", -1, "copies of each partition of created topics; -1: the broker's default.replication.factor (a cluster wants 3)")
	fs.IntVar(&k.Replication.MinInSync, "min-insync-replicas", 0, "min.insync.replicas of created topics, the copies a write must reach (the writers use acks=all); 0: the broker's default (a cluster of replication factor 3 wants 2)")
	fs.StringVar(&k.Compression, "compression", "lz4", "compression of produced batches: none, gzip, snappy, lz4, zstd")
}

// Validate names the first bad field.
func (k *Kafka) Validate() error {
	switch {
	case len(k.Brokers) == 0:
		return fmt.Errorf("--brokers: at least one broker is required")
	case k.Topics.Raw == "" || k.Topics.Clean == "" || k.Topics.Consent == "" || k.Topics.DeadLetter == "":
		return fmt.Errorf("--topic-*: topic names must not be empty")
	case k.Partitions <= 0:
		return fmt.Errorf("--partitions: must be positive, got %d", k.Partitions)
	case k.User != "" && k.Password.Value() == "":
		return fmt.Errorf("--kafka-user %s: no password (--kafka-password-file or %s)", k.User, k.Password.Env)
	case k.User == "" && k.Password.Value() != "":
		return fmt.Errorf("--kafka-password-file or %s: a password without --kafka-user", k.Password.Env)
	}
	if err := k.Replication.Validate(); err != nil {
		return err
	}
	_, err := ParseCompression(k.Compression)
	if err != nil {
		return fmt.Errorf("--compression: %w", err)
	}
	return nil
}

// Cluster returns the brokers with the credentials of --kafka-user. Each call
// returns a cluster with connections of its own.
func (k *Kafka) Cluster() (Cluster, error) {
	return NewCluster(k.Brokers, k.User, k.Password.Value())
}

// Ensure creates the missing topics when --create-topics was given. Creating
// topics is an administrator's right (the CREATE operation): the pipeline's own
// accounts do not have it, so with accounts the topics are created by
// `veilctl kafka setup --create-topics` as the administrator.
func (k *Kafka) Ensure(ctx context.Context) error {
	if !k.CreateTopics {
		return nil
	}
	c, err := k.Cluster()
	if err != nil {
		return err
	}
	return EnsureTopics(ctx, c, k.Replication.Apply(k.Topics.Specs(k.Partitions)))
}

// WriterConfig returns the configuration of a writer with the shared settings
// (the cluster and --compression), for the caller to complete; topic "" lets
// each message name its own.
func (k *Kafka) WriterConfig(topic string) (WriterConfig, error) {
	c, err := k.Cluster()
	if err != nil {
		return WriterConfig{}, err
	}
	return WriterConfig{Cluster: c, Topic: topic, Compression: k.Compression}, nil
}

// Writer returns a writer with the shared settings and the defaults of
// WriterConfig; topic "" lets each message name its own.
func (k *Kafka) Writer(topic string) (*kafkago.Writer, error) {
	cfg, err := k.WriterConfig(topic)
	if err != nil {
		return nil, err
	}
	return NewWriter(cfg)
}
