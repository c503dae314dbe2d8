package stream

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReplayConfig of `enricher replay-deadletter`.
type ReplayConfig struct {
	Kafka  Kafka
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

// Validate names the first bad field.
func (c *ReplayConfig) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if c.Group == "" || c.Idle <= 0 {
		return errors.New("replay: --group must not be empty and --idle must be positive")
	}
	return nil
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

// replayBatch is the most dead letters one write of a replay holds.
const replayBatch = 1000

// Replay re-injects dead letters into the topic they came from, once whatever
// made them fail has been fixed (a new schema deployed, ClickHouse repaired): it
// reads the dead-letter topic as a member of its own consumer group, and writes
// each matching record back as it was (Original: key, value, headers and
// timestamp), marked with HeaderReplayedFrom. The original timestamp
// (SourceTime) is when the record first arrived: the enricher measures an
// event's age from it, the clean record carries its hour, and the raw topic's
// retention counts from it, as if the record had never failed. Offsets are
// committed only after the writes were acknowledged, so an interrupted replay
// is resumed, never skipped; a record replayed twice is absorbed by the sink's
// event-id deduplication. Records that do not match --stage/--reason are skipped
// and committed too: a later replay with other filters needs another --group.
// It returns once the topic has been idle for --idle, and fails at once when
// Kafka does not answer at start. When ctx ends first, the dead letters read so
// far are written and committed if Kafka takes them within DrainTimeout, and
// Replay returns an error saying how many are left for the next run.
func Replay(ctx context.Context, cfg ReplayConfig, log *slog.Logger) (ReplayStats, error) {
	var st ReplayStats
	if err := cfg.Validate(); err != nil {
		return st, err
	}
	cluster, err := cfg.Kafka.Cluster()
	if err != nil {
		return st, err
	}
	// The reader waits for a broker it cannot reach without a word, and the
	// replay would then end as if the topic were idle: ask for the topic first.
	if _, err := PartitionCount(ctx, cluster, cfg.Kafka.Topics.DeadLetter); err != nil {
		return st, fmt.Errorf("replay: %w", err)
	}
	w, err := cfg.Kafka.Writer("") // each record names the topic it goes back to
	if err != nil {
		return st, err
	}
	defer Close(w, "writer")
	// A batch ends at replayBatch records or once no record came for --idle:
	// then the topic is idle, and the replay ends with that batch.
	src := NewMember(cluster, cfg.Group, cfg.Kafka.Topics.DeadLetter, Batching{MaxRecords: replayBatch, Idle: cfg.Idle}, log)
	defer src.Close()
	left := func() int { return st.Read - st.Replayed - st.Skipped }
	var out []kafka.Message
	for {
		b, err := src.Next(ctx)
		switch {
		case errors.Is(err, ErrIdle):
			return st, nil // everything present has been handled
		case err != nil:
			return st, fmt.Errorf("replay: %w (%d dead letters read but not handled are left for the next run)", context.Cause(ctx), left())
		}
		st.Read += len(b.Messages)
		out = out[:0]
		for _, m := range b.Messages {
			if Header(m, HeaderSourceTopic) != "" && (cfg.Stage == "" || Header(m, HeaderStage) == cfg.Stage) &&
				(cfg.Reason == "" || Header(m, HeaderReason) == cfg.Reason) {
				out = append(out, Original(m))
			}
		}
		err = replay(ctx, w, b, out, cfg.DryRun)
		if err == nil {
			st.Replayed += len(out)
			st.Skipped += len(b.Messages) - len(out)
		}
		switch {
		case ctx.Err() != nil:
			return st, fmt.Errorf("replay: %w (%d dead letters read but not handled are left for the next run)", errors.Join(context.Cause(ctx), err), left())
		case err != nil:
			return st, fmt.Errorf("replay: %w", err)
		case len(b.Messages) < replayBatch:
			return st, nil // the batch ended because the topic was idle
		}
		log.Info("replaying", "read", st.Read, "replayed", st.Replayed, "skipped", st.Skipped)
	}
}

// replay writes out and acknowledges b; a write already under way when ctx
// ends gets DrainTimeout to be acknowledged. A dry run does neither.
func replay(ctx context.Context, w *kafka.Writer, b *Batch, out []kafka.Message, dryRun bool) error {
	if dryRun {
		return nil
	}
	work, cancel := DrainContext(ctx)
	defer cancel()
	if len(out) > 0 {
		if err := w.WriteMessages(work, out...); err != nil {
			return fmt.Errorf("write %d records: %w", len(out), err)
		}
	}
	if err := b.Ack(work); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
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
