package collector

import (
	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
)

// Writers returns the two writers the collector needs, configured from cfg: the
// batched one (acks=all, batches cut at --max-record-bytes so that a batch stays
// under the broker's message.max.bytes) and the single-record one. The caller
// closes them once Server.Serve returned, which flushes what they still hold.
func Writers(cfg Config) (batched, single *kafka.Writer, err error) {
	cluster, err := cfg.Kafka.Cluster()
	if err != nil {
		return nil, nil, err
	}
	wcfg := stream.WriterConfig{Cluster: cluster, Compression: cfg.Kafka.Compression, BatchBytes: int64(cfg.MaxRecordBytes)}
	batched, err = stream.NewWriter(wcfg)
	if err != nil {
		return nil, nil, err
	}
	wcfg.BatchSize = 1
	single, err = stream.NewWriter(wcfg)
	if err != nil {
		return nil, nil, err
	}
	return batched, single, nil
}
