package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/enricher"
	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
	"github.com/veiltelemetry/veil/tools/bench/naive"
)

// What producer simulate does by default, and what the baselines copy.
const (
	produceWorkers = 4
	produceChunk   = 1000
	consumeCommit  = 5000 // records per commit, the enricher's default batch
)

// baselines measures kafka-go, goavro and clickhouse-go on their own, on the
// same records the pipeline carries.
func (r *run) baselines(ctx context.Context) (*Baselines, error) {
	n := r.cfg.BaselineEvents
	r.log.Info("baselines: making records", "records", n)
	msgs, size, err := sampleRecords(r.reg, n)
	if err != nil {
		return nil, err
	}
	b := &Baselines{Records: n, RecordBytes: float64(size) / float64(n)}

	topic := r.cfg.TopicPrefix + ".baseline"
	r.topics = append(r.topics, topic)
	if err := stream.EnsureTopics(ctx, r.cluster, r.cfg.Replication.Apply([]stream.Topic{{Name: topic, Partitions: r.cfg.Partitions, Retention: time.Hour}})); err != nil {
		return nil, err
	}
	r.log.Info("baselines: kafka-go produce", "topic", topic, "writers", produceWorkers, "chunk", produceChunk)
	if b.KafkaProduce, err = r.baselineProduce(ctx, topic, msgs); err != nil {
		return b, err
	}
	r.log.Info("baselines: kafka-go produce done", "per_second", int(b.KafkaProduce.PerSec))
	r.log.Info("baselines: kafka-go consume", "commit_every", consumeCommit)
	if b.KafkaConsume, err = r.baselineConsume(ctx, topic, n); err != nil {
		return b, err
	}
	r.log.Info("baselines: kafka-go consume done", "per_second", int(b.KafkaConsume.PerSec))

	clean, err := r.baselineAvro(ctx, b, msgs)
	if err != nil {
		return b, err
	}
	msgs = nil
	b.InsertBatch, _ = sinkBatching(r.cfg.SinkBatch) // rows per INSERT, as the sink's batches
	r.log.Info("baselines: clickhouse-go batch insert and chstore", "rows", n, "batch", b.InsertBatch)
	if b.ClickHouseRaw, b.ClickHouseStore, err = r.baselineClickHouse(ctx, clean, b.InsertBatch); err != nil {
		return b, err
	}
	r.log.Info("baselines: inserts done", "raw_rows_per_second", int(b.ClickHouseRaw.PerSec), "chstore_rows_per_second", int(b.ClickHouseStore.PerSec))
	if err := r.baselineDedup(ctx, b, b.InsertBatch); err != nil {
		return b, err
	}
	return b, nil
}

// sampleRecords makes n raw records the way producer simulate does (same fleet,
// schemas, key and headers) and returns them with their total value size.
func sampleRecords(reg *schemas.Registry, n int) ([]kafka.Message, int64, error) {
	fleet := simulate.NewFleet(simulate.Config{Seed: 1})
	type kindInfo struct {
		schema  *schemas.Schema
		headers []kafka.Header
	}
	kinds := map[string]kindInfo{}
	msgs := make([]kafka.Message, 0, n)
	var size int64
	for range n {
		kind, rec, err := fleet.Next()
		if err != nil {
			return nil, 0, fmt.Errorf("bench: %w", err)
		}
		ki, ok := kinds[kind]
		if !ok {
			s := reg.Latest(schemas.Raw, kind)
			if s == nil {
				return nil, 0, fmt.Errorf("bench: no raw schema for %s", kind)
			}
			ki = kindInfo{schema: s, headers: stream.RecordHeaders(s, "simulator")}
			kinds[kind] = ki
		}
		value, err := ki.schema.Encode(nil, rec)
		if err != nil {
			return nil, 0, fmt.Errorf("bench: encode a simulated %s event: %w", kind, err)
		}
		id, _ := rec["installation_id"].(string)
		msgs = append(msgs, kafka.Message{Key: []byte(id), Value: value, Headers: ki.headers})
		size += int64(len(value))
	}
	return msgs, size, nil
}

// baselineProduce writes msgs with the pipeline's writer settings from several
// goroutines sharing one writer, as producer simulate does.
func (r *run) baselineProduce(ctx context.Context, topic string, msgs []kafka.Message) (Throughput, error) {
	w, err := stream.NewWriter(stream.WriterConfig{Cluster: r.cluster, Topic: topic, Compression: r.cfg.Compression})
	if err != nil {
		return Throughput{}, err
	}
	defer w.Close()
	var next atomic.Int64
	n := int64(len(msgs))
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for range produceWorkers {
		g.Go(func() error {
			for {
				lo := next.Add(produceChunk) - produceChunk
				if lo >= n {
					return nil
				}
				hi := min(lo+produceChunk, n)
				if err := w.WriteMessages(gctx, msgs[lo:hi]...); err != nil {
					return fmt.Errorf("bench: produce baseline: write %d records: %w", hi-lo, err)
				}
			}
		})
	}
	err = g.Wait()
	return throughput(n, time.Since(start)), err
}

// baselineConsume reads n records of topic in a new consumer group with the
// pipeline's reader settings, committing every consumeCommit records. The time
// runs from when the group had every partition assigned (or the first record,
// if that was seen first) to the last record.
func (r *run) baselineConsume(ctx context.Context, topic string, n int) (Throughput, error) {
	group := r.group("baseline", "consume")
	ctx, cancel := context.WithTimeout(ctx, max(2*time.Minute, time.Duration(n/2000)*time.Second))
	defer cancel()
	assigned := make(chan time.Time, 1)
	go func() {
		if t, err := r.waitAssigned(ctx, group, topic); err == nil {
			assigned <- t
		}
	}()
	rd := kafka.NewReader(stream.ReaderConfig(r.cluster, group, topic))
	defer rd.Close()
	batch := make([]kafka.Message, 0, consumeCommit)
	var first time.Time
	for got := 0; got < n; {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			return Throughput{}, fmt.Errorf("bench: consume baseline: after %d of %d records: %w", got, n, err)
		}
		if got == 0 {
			first = time.Now()
		}
		got++
		batch = append(batch, m)
		if len(batch) == consumeCommit || got == n {
			if err := rd.CommitMessages(ctx, batch...); err != nil {
				return Throughput{}, fmt.Errorf("bench: consume baseline: commit: %w", err)
			}
			batch = batch[:0]
		}
	}
	end := time.Now()
	start := first
	select {
	case t := <-assigned:
		if t.Before(start) {
			start = t
		}
	default:
	}
	return throughput(int64(n), end.Sub(start)), nil
}

// baselineAvro times the naive goavro conversion and the enricher's per-event
// path on the same records, one goroutine each, for cfg.AvroTime each in
// alternating rounds. It returns
// the clean records of one pass of the enricher, by kind, for the insert baseline.
func (r *run) baselineAvro(ctx context.Context, b *Baselines, msgs []kafka.Message) (map[string][][]byte, error) {
	var cfg enricher.Config
	cfg.Kafka.Topics = stream.DefaultTopics()
	cfg.KeyDir, cfg.KeyPeriod, cfg.KeyRetention, cfg.GeoIP, cfg.Catalog = r.keyDir, 30*24*time.Hour, 3, r.cfg.GeoIP, r.cfg.Catalog
	proc, _, err := enricher.NewProcessor(cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: enricher processor: %w", err)
	}
	nv, err := naive.New(r.reg)
	if err != nil {
		return nil, err
	}
	now := time.Now()

	// One pass first: warms both paths up, and yields the clean records.
	r.log.Info("baselines: one enricher pass over the records")
	b.EnricherOutcomes = map[string]int64{}
	clean := map[string][][]byte{}
	for i, m := range msgs {
		if i%10000 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		out, outcome, reason := proc.Process(kafka.Message{Value: m.Value, Time: now})
		switch outcome {
		case enricher.Clean:
			b.EnricherOutcomes["clean"]++
			s, err := r.reg.Writer(out.Value)
			if err != nil {
				return nil, fmt.Errorf("bench: the enricher wrote an undecodable record: %w", err)
			}
			clean[s.Kind] = append(clean[s.Kind], out.Value)
		case enricher.DeadLetter:
			b.EnricherOutcomes["deadletter"]++
			if b.EnricherOutcomes["deadletter"] == 1 {
				r.log.Warn("baselines: the enricher dead-lettered a simulated record", "reason", reason, "error", stream.Header(out, stream.HeaderError))
			}
		default:
			b.EnricherOutcomes["dropped"]++
		}
	}
	var buf []byte
	for _, m := range msgs[:min(len(msgs), 1000)] {
		if buf, err = nv.Convert(buf, m.Value); err != nil {
			return nil, fmt.Errorf("bench: naive goavro conversion: %w", err)
		}
	}

	// The two loops alternate in rounds (naive, enricher, naive, ...) and each
	// figure is the median of its rounds: run one after the other, a change in
	// the machine's other load between them moved the ratio by a third.
	r.log.Info("baselines: naive goavro raw→clean and the enricher's Processor.Process, alternated",
		"rounds", avroRounds, "seconds_each", r.cfg.AvroTime.Seconds())
	round := r.cfg.AvroTime / avroRounds
	var naiveNs, procNs []float64
	for range avroRounds {
		events, elapsed, err := timeLoop(ctx, round, len(msgs), func(i int) error {
			buf, err = nv.Convert(buf, msgs[i].Value)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("bench: naive goavro conversion: %w", err)
		}
		b.NaiveEvents += events
		naiveNs = append(naiveNs, float64(elapsed.Nanoseconds())/float64(events))
		events, elapsed, err = timeLoop(ctx, round, len(msgs), func(i int) error {
			proc.Process(kafka.Message{Value: msgs[i].Value, Time: now})
			return nil
		})
		if err != nil {
			return nil, err
		}
		b.EnricherEvents += events
		procNs = append(procNs, float64(elapsed.Nanoseconds())/float64(events))
	}
	b.NaiveAvroNs, b.EnricherNs = median(naiveNs), median(procNs)
	r.log.Info("baselines: per-event paths done", "naive_ns", int(b.NaiveAvroNs), "enricher_ns", int(b.EnricherNs),
		"ratio", fmt.Sprintf("%.2f", b.EnricherRatio()))
	return clean, nil
}

// avroRounds is how many rounds of each per-event loop baselineAvro alternates.
const avroRounds = 4

// median of xs (which it sorts).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

// timeLoop calls fn on records 0..n-1 over and over until at least d has passed.
func timeLoop(ctx context.Context, d time.Duration, n int, fn func(i int) error) (int64, time.Duration, error) {
	runtime.GC()
	start := time.Now()
	var events int64
	for i := 0; ; i = (i + 1) % n {
		if err := fn(i); err != nil {
			return events, time.Since(start), err
		}
		events++
		if events%512 == 0 {
			if el := time.Since(start); el >= d {
				return events, el, nil
			} else if ctx.Err() != nil {
				return events, el, ctx.Err()
			}
		}
	}
}

// baselineClickHouse inserts the same clean rows twice, into two identical
// scratch databases made by chstore's migrations: once with clickhouse-go alone
// (PrepareBatch, one Append per column of ready []string/[]time.Time slices) and
// once the sink's way (chstore Rows.AppendFlat per decoded record, then
// Store.Insert), in batches of up to batch rows per table. Decoding is not timed.
// The two alternate batch by batch, so background merges weigh on both alike.
func (r *run) baselineClickHouse(ctx context.Context, clean map[string][][]byte, batch int) (raw, store Throughput, err error) {
	open := func(phase string) (*chstore.Store, error) {
		st, err := chstore.Open(ctx, r.cfg.chOptions(r.database(phase)), r.reg)
		if err != nil {
			return nil, err
		}
		if _, err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, err
		}
		return st, nil
	}
	st, err := open("base_chstore")
	if err != nil {
		return raw, store, err
	}
	defer st.Close()
	rawStore, err := open("base_raw")
	if err != nil {
		return raw, store, err
	}
	rawDB := rawStore.Database()
	rawStore.Close()

	kinds := make([]string, 0, len(clean))
	for k := range clean {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var rawDur, storeDur time.Duration
	var rows int64
	batchNo := 0
	for _, kind := range kinds {
		t, ok := st.Table(kind)
		if !ok {
			return raw, store, fmt.Errorf("bench: chstore has no table for %s", kind)
		}
		cols, err := columnsOf(t.Schema)
		if err != nil {
			return raw, store, err
		}
		rs := chstore.NewRows(t)
		values := clean[kind]
		for lo := 0; lo < len(values); lo += batch {
			hi := min(lo+batch, len(values))
			recs := make([][]schemas.Value, 0, hi-lo)
			for _, v := range values[lo:hi] {
				_, rec, err := r.reg.DecodeFlat(v, nil)
				if err != nil {
					return raw, store, fmt.Errorf("bench: decode a clean record: %w", err)
				}
				recs = append(recs, rec)
			}
			block := cols.block(recs, lo)
			insertRaw := func() error {
				start := time.Now()
				if err := r.rawInsert(ctx, rawDB+"."+kind, cols, block); err != nil {
					return err
				}
				rawDur += time.Since(start)
				return nil
			}
			insertStore := func() error {
				start := time.Now()
				rs.Reset()
				for i, rec := range recs {
					if err := rs.AppendFlat(rec, 0, int64(lo+i)); err != nil {
						return fmt.Errorf("bench: chstore rows of %s: %w", kind, err)
					}
				}
				if err := st.Insert(ctx, rs); err != nil {
					return err
				}
				storeDur += time.Since(start)
				return nil
			}
			first, second := insertRaw, insertStore
			if batchNo%2 == 1 {
				first, second = insertStore, insertRaw
			}
			if err := first(); err != nil {
				return raw, store, err
			}
			if err := second(); err != nil {
				return raw, store, err
			}
			batchNo++
			rows += int64(hi - lo)
		}
	}
	return throughput(rows, rawDur), throughput(rows, storeDur), nil
}

// columns of a clean table: the schema's fields, then kafka_partition and kafka_offset.
type columns struct {
	names  []string
	isTime []bool
}

func columnsOf(s *schemas.Schema) (columns, error) {
	var c columns
	for i, f := range s.Fields {
		switch s.Type(i) {
		case schemas.TString:
			c.isTime = append(c.isTime, false)
		case schemas.TTimestamp:
			c.isTime = append(c.isTime, true)
		default:
			return c, fmt.Errorf("bench: %s.%s: type %s has no column mapping", s.Name, f.Name, s.Type(i))
		}
		c.names = append(c.names, f.Name)
	}
	return c, nil
}

// block is a batch laid out column by column.
type block struct {
	strs  [][]string
	times [][]time.Time
	parts []uint32
	offs  []uint64
}

func (c columns) block(recs [][]schemas.Value, firstOffset int) block {
	b := block{strs: make([][]string, len(c.names)), times: make([][]time.Time, len(c.names))}
	for i := range c.names {
		for _, rec := range recs {
			if c.isTime[i] {
				b.times[i] = append(b.times[i], rec[i].Time())
			} else {
				b.strs[i] = append(b.strs[i], rec[i].S)
			}
		}
	}
	for i := range recs {
		b.parts = append(b.parts, 0)
		b.offs = append(b.offs, uint64(firstOffset+i))
	}
	return b
}

// rawInsert sends one block with clickhouse-go alone. (On ClickHouse 18.16 an
// INSERT through Exec hangs; PrepareBatch works.)
func (r *run) rawInsert(ctx context.Context, table string, c columns, b block) error {
	sql := "INSERT INTO " + table + " (" + strings.Join(c.names, ", ") + ", kafka_partition, kafka_offset)"
	batch, err := r.ch.conn.PrepareBatch(ctx, sql)
	if err != nil {
		return fmt.Errorf("bench: prepare insert into %s: %w", table, err)
	}
	defer batch.Abort()
	for i, name := range c.names {
		var v any = b.strs[i]
		if c.isTime[i] {
			v = b.times[i]
		}
		if err := batch.Column(i).Append(v); err != nil {
			return fmt.Errorf("bench: column %s of %s: %w", name, table, err)
		}
	}
	if err := batch.Column(len(c.names)).Append(b.parts); err != nil {
		return fmt.Errorf("bench: column kafka_partition of %s: %w", table, err)
	}
	if err := batch.Column(len(c.names) + 1).Append(b.offs); err != nil {
		return fmt.Errorf("bench: column kafka_offset of %s: %w", table, err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("bench: insert %d rows into %s: %w", len(b.offs), table, err)
	}
	return nil
}
