package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/obs"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// Writers returns the two writers the collector needs, configured from cfg: the
// batched one (acks=all, batches cut at --max-record-bytes so that a batch stays
// under the broker's message.max.bytes) and the single-record one. The caller
// closes them, which flushes what they still hold.
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

// Run serves the collector on --listen until ctx is done, then drains: requests in
// flight finish, their records are acknowledged or failed, and the writers are
// closed (flushed). mount functions add endpoints of other packages (consent,
// privacy tab) before the server starts.
func Run(ctx context.Context, cfg Config, log *slog.Logger, reg *prometheus.Registry, mount ...func(*Server) error) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	sch, err := schemas.Load()
	if err != nil {
		return err
	}
	if err := cfg.Kafka.Ensure(ctx); err != nil {
		return err
	}
	cluster, err := cfg.Kafka.Cluster()
	if err != nil {
		return err
	}
	batched, single, err := Writers(cfg)
	if err != nil {
		return err
	}
	s, err := New(cfg, Deps{
		Schemas: sch, Batched: batched, Single: single, Topics: cfg.Kafka.Topics,
		Ready: map[string]obs.Check{"kafka": stream.Ping(cluster)},
		Log:   log, Metrics: reg, Gatherer: reg,
	})
	if err == nil {
		for _, m := range mount {
			if err = m(s); err != nil {
				break
			}
		}
	}
	var ln net.Listener
	if err == nil {
		ln, err = net.Listen("tcp", cfg.Listen)
		if err != nil {
			err = fmt.Errorf("collector: listen on %s: %w", cfg.Listen, err)
		}
	}
	if err == nil {
		err = s.Serve(ctx, ln)
	}
	return errors.Join(err, closeWriter("raw", batched), closeWriter("single", single))
}

// closeWriter flushes w, waiting at most stream.CloseTimeout: what it still
// holds then belongs to requests that were already answered 503.
func closeWriter(name string, w *kafka.Writer) error {
	if err := stream.Close(w, name+" writer"); err != nil {
		return fmt.Errorf("collector: flush: %w", err)
	}
	return nil
}
