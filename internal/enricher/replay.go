package enricher

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
)

// HeaderReplayedFrom marks a record re-injected from the dead-letter topic:
// "<dead-letter topic>/<partition>/<offset>".
const HeaderReplayedFrom = "veil-replayed-from"

// ReplayConfig of `enricher replay-deadletter`.
type ReplayConfig struct {
	Kafka  stream.Kafka
	Group  string        // --group: consumer group that remembers what was replayed, default veil-replay
	Stage  string        // --stage: only dead letters of this stage (collector, enricher, sink); empty: all
	Reason string        // --reason: only dead letters with this reason code; empty: all
	Idle   time.Duration // --idle: stop once no record arrived for this long, default 3s
	DryRun bool          // --dry-run: count what would be replayed, write and commit nothing
}

// Register adds the flags to fs.
func (c *ReplayConfig) Register(fs *flag.FlagSet) {
	c.Kafka.Register(fs)
	fs.StringVar(&c.Group, "group", "veil-replay", "consumer group that remembers which dead letters were handled, so a second run starts after the first")
	fs.StringVar(&c.Stage, "stage", "", "replay only dead letters of this stage: collector, enricher or sink (empty: all)")
	fs.StringVar(&c.Reason, "reason", "", "replay only dead letters with this reason code, e.g. unknown-fingerprint (empty: all)")
	fs.DurationVar(&c.Idle, "idle", 3*time.Second, "stop once no dead letter arrived for this long")
	fs.BoolVar(&c.DryRun, "dry-run", false, "count what would be replayed; write and commit nothing")
}

// ReplayStats is what a replay did. Replayed and Skipped count dead letters
// whose offsets were committed (with --dry-run: that would have been); those
// read but not counted there are left for the next run.
type ReplayStats struct {
	Read, Replayed, Skipped int
}

func (s ReplayStats) String() string {
	return fmt.Sprintf("dead letters read=%d replayed=%d skipped=%d", s.Read, s.Replayed, s.Skipped)
}

// Replay re-injects dead letters into the topic they came from, once whatever
// made them fail has been fixed (a new schema deployed, ClickHouse repaired): it
// reads the dead-letter topic with its own consumer group, and writes each
// matching record's original key, value, headers and timestamp back to its
// source topic, marked with HeaderReplayedFrom. The original timestamp
// (stream.SourceTime) is when the record first arrived: the enricher measures an
// event's age from it, the clean record carries its hour, and the raw topic's
// retention counts from it, as if the record had never failed. Offsets are committed only after the writes
// were acknowledged, so an interrupted replay is resumed, never skipped; a record
// replayed twice is absorbed by the sink's event-id deduplication. Records that
// do not match --stage/--reason are skipped and committed too: a later replay
// with other filters needs another --group. It returns once the topic has been
// idle for --idle, and fails at once when Kafka does not answer at start. When
// ctx ends first, the dead letters read so far are written and committed if
// Kafka takes them within stream.DrainTimeout, and Replay returns an error
// saying how many are left for the next run.
func Replay(ctx context.Context, cfg ReplayConfig, log *slog.Logger) (ReplayStats, error) {
	var st ReplayStats
	if err := cfg.Kafka.Validate(); err != nil {
		return st, err
	}
	if cfg.Group == "" || cfg.Idle <= 0 {
		return st, errors.New("replay: --group must not be empty and --idle must be positive")
	}
	cluster, err := cfg.Kafka.Cluster()
	if err != nil {
		return st, err
	}
	// The reader waits for a broker it cannot reach without a word, and the
	// replay would then end as if the topic were idle: ask for the topic first.
	if _, err := stream.PartitionCount(ctx, cluster, cfg.Kafka.Topics.DeadLetter); err != nil {
		return st, fmt.Errorf("replay: %w", err)
	}
	w, err := cfg.Kafka.Writer("")
	if err != nil {
		return st, err
	}
	defer stream.Close(w, "writer")
	r := kafka.NewReader(stream.ReaderConfig(cluster, cfg.Group, cfg.Kafka.Topics.DeadLetter))
	defer stream.Close(r, "dead-letter reader")
	var batch, out []kafka.Message
	// flush writes and commits what was read; a write already under way when
	// ctx ends gets stream.DrainTimeout to be acknowledged.
	flush := func() error {
		work, cancel := stream.DrainContext(ctx)
		defer cancel()
		if !cfg.DryRun && len(out) > 0 {
			if err := w.WriteMessages(work, out...); err != nil {
				return fmt.Errorf("replay: write %d records: %w", len(out), err)
			}
		}
		if !cfg.DryRun && len(batch) > 0 {
			if err := r.CommitMessages(work, batch...); err != nil {
				return fmt.Errorf("replay: commit: %w", err)
			}
		}
		st.Replayed += len(out)
		st.Skipped += len(batch) - len(out)
		batch, out = batch[:0], out[:0]
		return nil
	}
	for {
		fctx, cancel := context.WithTimeout(ctx, cfg.Idle)
		m, err := r.FetchMessage(fctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return st, flush() // idle: everything present has been handled
			}
			if ctx.Err() != nil {
				err = context.Cause(ctx)
			}
			err = errors.Join(err, flush())
			return st, fmt.Errorf("replay: %w (%d dead letters read but not handled are left for the next run)", err, st.Read-st.Replayed-st.Skipped)
		}
		st.Read++
		batch = append(batch, m)
		src := stream.Header(m, stream.HeaderSourceTopic)
		if src != "" && (cfg.Stage == "" || stream.Header(m, stream.HeaderStage) == cfg.Stage) &&
			(cfg.Reason == "" || stream.Header(m, stream.HeaderReason) == cfg.Reason) {
			out = append(out, kafka.Message{Topic: src, Key: m.Key, Value: m.Value, Headers: original(m), Time: stream.SourceTime(m)})
		}
		if len(batch) >= 1000 {
			if err := flush(); err != nil {
				return st, err
			}
			log.Info("replaying", "read", st.Read, "replayed", st.Replayed, "skipped", st.Skipped)
		}
	}
}

// original returns the record's headers as they were before it was
// dead-lettered, plus where the replay took it from.
func original(m kafka.Message) []kafka.Header {
	h := make([]kafka.Header, 0, len(m.Headers))
	for _, x := range m.Headers {
		switch x.Key {
		case stream.HeaderStage, stream.HeaderReason, stream.HeaderError, stream.HeaderSourceTopic,
			stream.HeaderSourcePartition, stream.HeaderSourceOffset, stream.HeaderTime, stream.HeaderSourceTime, HeaderReplayedFrom:
			continue
		}
		h = append(h, x)
	}
	from := m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)
	return append(h, kafka.Header{Key: HeaderReplayedFrom, Value: []byte(from)})
}

// ReplayCommand is `enricher replay-deadletter` for cli.Command.Register.
func ReplayCommand(fs *flag.FlagSet) func(context.Context, *slog.Logger, io.Writer) error {
	var cfg ReplayConfig
	cfg.Register(fs)
	return func(ctx context.Context, log *slog.Logger, out io.Writer) error {
		st, err := Replay(ctx, cfg, log)
		prefix := ""
		if cfg.DryRun {
			prefix = "dry run: "
		}
		fmt.Fprintln(out, prefix+st.String())
		return err
	}
}
