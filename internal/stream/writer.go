package stream

import (
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// WriterConfig holds what a pipeline writer needs; zero values take the defaults.
type WriterConfig struct {
	Cluster      Cluster       // the brokers, and the credentials when the cluster has a user
	Topic        string        // empty: each message names its topic
	Compression  string        // none, gzip, snappy, lz4 (default), zstd
	BatchTimeout time.Duration // default 5ms: how long a partial batch waits
	BatchSize    int           // default DefaultBatchSize messages per partition batch
	// BatchBytes caps the bytes of one partition's batch, default
	// DefaultBatchBytes; keep it under the broker's message.max.bytes.
	BatchBytes int64
	// Balancer places keyed records in partitions; default murmur2 of the key,
	// as the Java client does (EventIDBalancer for the clean topic).
	Balancer kafka.Balancer
}

// DefaultBatchBytes is the most bytes of one partition's batch unless
// WriterConfig.BatchBytes says otherwise: under the broker's default
// message.max.bytes, 1048588.
const DefaultBatchBytes = 1_000_000

// ParseCompression maps a flag value to a codec.
func ParseCompression(s string) (compress.Compression, error) {
	switch strings.ToLower(s) {
	case "", "lz4":
		return kafka.Lz4, nil
	case "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("unknown compression %q (none, gzip, snappy, lz4, zstd)", s)
}

// DefaultBatchSize is the most messages a writer puts in one partition's batch
// unless WriterConfig.BatchSize says otherwise.
const DefaultBatchSize = 1000

// NewWriter returns a kafka-go writer that is safe by default, unlike kafka-go's own
// defaults (no acknowledgement, one-second batch timeout): every write waits for all
// in-sync replicas, batches form for at most a few milliseconds, records are keyed
// with the same murmur2 partitioner as the Java client, and topics are never created
// implicitly.
//
// WriteMessages on the returned writer returns nil only when the broker acknowledged
// every message; on error some messages may have been written (retrying may
// duplicate them, which downstream deduplication absorbs).
func NewWriter(cfg WriterConfig) (*kafka.Writer, error) {
	codec, err := ParseCompression(cfg.Compression)
	if err != nil {
		return nil, err
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = 5 * time.Millisecond
	}
	if cfg.BatchSize <= 0 {
		// kafka-go allocates room for BatchSize messages with every partition
		// batch, however few it ends up holding. BatchBytes caps a batch near
		// 2,500 records of our size anyway; 1000 keeps batches large (about
		// 400 KB) without zeroing 750 KB for each of them.
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if cfg.Balancer == nil {
		cfg.Balancer = &kafka.Murmur2Balancer{}
	}
	return &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Cluster.Brokers...),
		Transport:              cfg.Cluster.RoundTripper(),
		Topic:                  cfg.Topic,
		Balancer:               cfg.Balancer,
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           cfg.BatchTimeout,
		BatchSize:              cfg.BatchSize,
		BatchBytes:             cfg.BatchBytes,
		Compression:            codec,
		WriteTimeout:           10 * time.Second,
		ReadTimeout:            10 * time.Second,
		MaxAttempts:            5,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		AllowAutoTopicCreation: false,
	}, nil
}

// ReaderConfig returns a consumer-group reader configuration with synchronous
// commits (CommitInterval 0: CommitMessages returns once the broker stored the
// offsets), starting from the earliest offset for a new group.
func ReaderConfig(c Cluster, group, topic string) kafka.ReaderConfig {
	return kafka.ReaderConfig{
		Brokers:           c.Brokers,
		Dialer:            c.Dialer(),
		GroupID:           group,
		Topic:             topic,
		MinBytes:          1,
		MaxBytes:          16 << 20,
		MaxWait:           100 * time.Millisecond,
		QueueCapacity:     10000,
		CommitInterval:    0,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    time.Second,
	}
}
