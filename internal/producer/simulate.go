package producer

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/veiltelemetry/veil/internal/catalog"
	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// SimulateConfig configures `producer simulate`.
type SimulateConfig struct {
	Kafka         stream.Kafka
	Count         int64         // --count: events to send, default 100000 (0 with --duration: no limit)
	Duration      time.Duration // --duration: stop after this long (0: until --count)
	Rate          float64       // --rate: events per second, 0 = as fast as Kafka takes them
	Installations int           // --installations in the fleet, default 2000
	Seed          uint64        // --seed, default 1
	Canary        bool          // --canary: identifying fields carry unique CANARY strings
	Workers       int           // --workers writing concurrently, default 4
	Chunk         int           // --chunk: events per write call, default 1000
	RetryFor      time.Duration // --retry-for: how long a failed write is retried, default 2m
	Catalog       string        // --service-catalog: the catalog hosted ids and campaigns are drawn from; default the demo catalog
}

// chunkBytesPerEvent sizes the buffer of a chunk: a raw event's key and value
// take about 320 bytes.
const chunkBytesPerEvent = 384

// Register adds the flags to fs.
func (c *SimulateConfig) Register(fs *flag.FlagSet) {
	c.Kafka.Register(fs)
	fs.Int64Var(&c.Count, "count", 100000, "events to send (0 with --duration: no limit)")
	fs.DurationVar(&c.Duration, "duration", 0, "stop after this long, whatever --count says (0: no time limit)")
	fs.Float64Var(&c.Rate, "rate", 0, "events per second (0: as fast as Kafka acknowledges)")
	fs.IntVar(&c.Installations, "installations", 2000, "installations in the simulated fleet")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed; the same seed gives the same fleet")
	fs.BoolVar(&c.Canary, "canary", false, "put a unique CANARY string in every identifying field (leak tests)")
	fs.IntVar(&c.Workers, "workers", 4, "concurrent writers")
	fs.IntVar(&c.Chunk, "chunk", 1000, "events per write call")
	fs.DurationVar(&c.RetryFor, "retry-for", 2*time.Minute, "how long a failed write is retried with the same events before they count as failed")
	fs.StringVar(&c.Catalog, "service-catalog", "", "service catalog file the hosted content ids and campaigns are drawn from (point the enricher at the same file); empty: the demo catalog built in")
}

// Validate names the first bad field.
func (c *SimulateConfig) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	switch {
	case c.Count < 0:
		return fmt.Errorf("--count: must not be negative")
	case c.Count == 0 && c.Duration <= 0:
		return fmt.Errorf("--count 0 needs a --duration")
	case c.Rate < 0:
		return fmt.Errorf("--rate: must not be negative")
	case c.Installations <= 0:
		return fmt.Errorf("--installations: must be positive")
	case c.Workers <= 0 || c.Chunk <= 0:
		return fmt.Errorf("--workers and --chunk must be positive")
	case c.RetryFor <= 0:
		return fmt.Errorf("--retry-for: must be positive")
	}
	return nil
}

// Summary of a simulation run.
type Summary struct {
	Sent, Failed int64
	Elapsed      time.Duration
}

// Rate is the acknowledged events per second.
func (s Summary) Rate() float64 { return float64(s.Sent) / max(s.Elapsed.Seconds(), 1e-9) }

func (s Summary) String() string {
	return fmt.Sprintf("summary sent=%d failed=%d seconds=%.2f rate=%.0f", s.Sent, s.Failed, s.Elapsed.Seconds(), s.Rate())
}

// Simulate sends simulated raw events until the count or duration is reached or ctx
// is done, printing progress to progress once a second. Sent counts only events
// Kafka acknowledged; a chunk still failing after --retry-for counts as failed.
//
// When ctx is done (a signal), no new chunk is made and the chunks being written
// get no further retry: each is acknowledged within stream.DrainTimeout or counts
// as failed. Simulate then returns the summary with an error saying how many of
// --count were never sent.
func Simulate(ctx context.Context, cfg SimulateConfig, log *slog.Logger, progress io.Writer) (Summary, error) {
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	reg, err := schemas.Load()
	if err != nil {
		return Summary{}, err
	}
	cat := catalog.Demo()
	if cfg.Catalog != "" {
		if cat, err = catalog.Load(cfg.Catalog); err != nil {
			return Summary{}, fmt.Errorf("--service-catalog: %w", err)
		}
	}
	headers := map[string][]kafka.Header{} // per kind, shared by its records: kafka-go only reads them
	for _, kind := range reg.Kinds() {
		raw := reg.Latest(schemas.Raw, kind)
		headers[kind] = stream.RecordHeaders(raw, "simulator")
	}
	if err := cfg.Kafka.Ensure(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("simulate: %w before sending anything: %w", context.Cause(ctx), err)
		}
		return Summary{}, err
	}
	w, err := cfg.Kafka.Writer(cfg.Kafka.Topics.Raw)
	if err != nil {
		return Summary{}, err
	}
	defer stream.Close(w, "raw writer")

	interrupt := ctx // the end of --duration is not an interruption: writes in hand still get --retry-for
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var limiter *rate.Limiter
	if cfg.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Chunk)
	}
	var claimed, sent, failed atomic.Int64
	claim := func() int { // how many events this worker should make next; 0 = done
		for {
			c := claimed.Load()
			n := int64(cfg.Chunk)
			if cfg.Count > 0 {
				n = min(n, cfg.Count-c)
			}
			if n <= 0 {
				return 0
			}
			if claimed.CompareAndSwap(c, c+n) {
				return int(n)
			}
		}
	}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); reportProgress(done, progress, cfg.Count, &sent, &failed, start) }()

	g, gctx := errgroup.WithContext(ctx)
	// The workers share the fleet: each simulates its own slice of the
	// installations, so the fleet is --installations strong and its memory does
	// not grow with --workers.
	share := max(1, (cfg.Installations+cfg.Workers-1)/cfg.Workers)
	for i := 0; i < cfg.Workers; i++ {
		fleet := simulate.NewFleet(simulate.Config{Installations: share, Seed: cfg.Seed + uint64(i)*7919, Canary: cfg.Canary, Catalog: cat})
		g.Go(func() error {
			msgs := make([]kafka.Message, 0, cfg.Chunk)
			for {
				if gctx.Err() != nil {
					return nil
				}
				n := claim()
				if n == 0 {
					return nil
				}
				if limiter != nil && limiter.WaitN(gctx, n) != nil {
					return nil
				}
				msgs = msgs[:0]
				// One buffer holds the chunk's keys and values. It is not reused:
				// a write cut short by its deadline may still reference it.
				buf := make([]byte, 0, n*chunkBytesPerEvent)
				for j := 0; j < n; j++ {
					kind, raw, flat, err := fleet.NextFlat()
					if err != nil {
						return err
					}
					start := len(buf)
					buf = append(buf, raw.InstallationID(flat)...)
					keyEnd := len(buf)
					if buf, err = raw.AppendFlat(buf, flat); err != nil {
						return fmt.Errorf("simulate: %w", err)
					}
					msgs = append(msgs, kafka.Message{
						Key:     buf[start:keyEnd:keyEnd],
						Value:   buf[keyEnd:len(buf):len(buf)],
						Headers: headers[kind],
					})
				}
				// A failed write is retried with the same events (same ids) until
				// Kafka acknowledges them, for up to --retry-for; copies that a
				// partial write leaves behind are removed by the sink. The write is
				// not cut short by --duration: events already made are acknowledged
				// or reported as failed, never abandoned mid-flight. A signal ends
				// the retries: the attempt in progress gets stream.DrainTimeout.
				work, cancelWork := stream.DrainContext(interrupt)
				wctx, cancel := context.WithTimeout(work, cfg.RetryFor)
				err := stream.Retry(wctx, log, func() error { return w.WriteMessages(wctx, msgs...) })
				cancel()
				cancelWork()
				if err != nil {
					failed.Add(int64(len(msgs)))
					log.Error("events not acknowledged", "events", len(msgs), "err", err)
					continue
				}
				sent.Add(int64(len(msgs)))
			}
		})
	}
	err = g.Wait()
	close(done)
	wg.Wait()
	s := Summary{Sent: sent.Load(), Failed: failed.Load(), Elapsed: time.Since(start)}
	if err == nil && interrupt.Err() != nil {
		if cfg.Count > 0 {
			err = fmt.Errorf("simulate: %w: %d events acknowledged, %d not acknowledged, %d of --count %d never sent",
				context.Cause(interrupt), s.Sent, s.Failed, cfg.Count-s.Sent-s.Failed, cfg.Count)
		} else {
			err = fmt.Errorf("simulate: %w: %d events acknowledged, %d not acknowledged", context.Cause(interrupt), s.Sent, s.Failed)
		}
	}
	return s, err
}

func reportProgress(done <-chan struct{}, out io.Writer, total int64, sent, failed *atomic.Int64, start time.Time) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			s := sent.Load()
			of := ""
			if total > 0 {
				of = fmt.Sprintf("/%d (%.0f%%)", total, 100*float64(s)/float64(total))
			}
			fmt.Fprintf(out, "simulate: sent %d%s, failed %d, %.0f events/s\n", s, of, failed.Load(), float64(s)/time.Since(start).Seconds())
		}
	}
}
