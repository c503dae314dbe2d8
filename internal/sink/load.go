package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/dedup"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// consume loads the batches of src until ctx ends, then closes src.
func (s *sinker) consume(ctx context.Context, src *stream.Source) error {
	defer func() {
		if err := src.Close(); err != nil {
			s.log.Warn("closing the clean topic's source", "err", err)
		}
	}()
	rows := map[string]*chstore.Rows{}
	ids := s.idx.NewBatch()
	defer ids.Close()
	var sc lookups
	for ctx.Err() == nil {
		b, err := src.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, stream.ErrClosed) {
				return nil
			}
			return err
		}
		if err := s.loadBatch(ctx, b, rows, ids, &sc); err != nil {
			return err
		}
	}
	return nil
}

// loadBatch inserts a batch, adds its ids to the index and then commits every
// partition it holds. A ClickHouse outage is waited out while ctx and the
// batch's generation live. Once either ended (shutdown, rebalance), the batch
// is still inserted and committed if that succeeds within --drain-timeout
// without a retry; if the commit fails, the next owner of a partition skips
// what was inserted. It returns an error only when the sink must stop.
func (s *sinker) loadBatch(ctx context.Context, b *stream.Batch, rows map[string]*chstore.Rows, ids *dedup.Batch, sc *lookups) error {
	work, cancelWork := b.WorkContext(ctx, s.cfg.Batch.Drain)
	defer cancelWork()
	err := s.load(work, b.Messages, rows, ids, sc)
	indexed := err == nil
	if err == nil {
		// The index learns the batch only now that ClickHouse has it: a
		// crash in between loses nothing, since the next owner catches
		// the index up from ClickHouse.
		if err = ids.Commit(); err != nil {
			s.stop(err)
		}
	}
	switch {
	case err == nil:
		s.m.delay.Observe(time.Since(b.Taken).Seconds())
		if cerr := b.Ack(work); cerr != nil {
			s.log.Warn("commit failed; ClickHouse already has the rows, replay will skip them", "records", len(b.Messages), "err", cerr)
		}
		return nil
	case !indexed && ctx.Err() != nil:
		s.unloaded.Add(int64(len(b.Messages)))
		s.log.Warn("shutdown: batch not loaded, left uncommitted", "records", len(b.Messages), "err", err)
		return nil
	case !indexed && b.Context().Err() != nil:
		s.log.Info("partitions taken away: batch not loaded, left uncommitted for their next owner", "records", len(b.Messages), "err", err)
		return nil
	case ctx.Err() != nil:
		return nil
	}
	s.log.Error("loader stopped", "err", err)
	return err
}

// load turns a batch into rows, dead-letters what cannot be loaded, drops the
// records ClickHouse has and the copies of events stored within the horizon,
// and inserts the rows of every table, retrying until ClickHouse accepts them
// or ctx ends. It adds the ids of the batch to ids, which the caller commits
// once load succeeded. An error of the index stops the sink.
func (s *sinker) load(ctx context.Context, batch []kafka.Message, rows map[string]*chstore.Rows, ids *dedup.Batch, sc *lookups) error {
	for _, r := range rows {
		r.Reset()
	}
	sc.reset()
	// Every partition in the batch was prepared: it caught its index up, and
	// the lookups below see it.
	ids.Reset()
	resume := s.resume.all()
	var dead []kafka.Message
	deadLetter := func(m kafka.Message, reason string, err error) {
		s.m.dead.WithLabelValues(reason).Inc()
		dead = append(dead, stream.DeadLetter(s.cfg.Kafka.Topics.DeadLetter, "sink", reason, err, m, time.Now()))
	}
	var rec []schemas.Value // reused: its strings alias the batch's buffers, which outlive the inserts
	for _, m := range batch {
		sch, dec, err := s.schemas.DecodeFlat(m.Value, rec)
		rec = dec
		if err != nil {
			deadLetter(m, "undecodable", err)
			continue
		}
		t, ok := s.store.Table(sch.Kind)
		if !ok || sch.Stage != schemas.Clean {
			deadLetter(m, "no-table", fmt.Errorf("no table for %s schema %s", sch.Stage, sch.Name))
			continue
		}
		rs := rows[sch.Kind]
		if rs == nil {
			rs = chstore.NewRows(t)
			rows[sch.Kind] = rs
		}
		if err := rs.AppendFlat(rec, m.Partition, m.Offset); err != nil {
			deadLetter(m, "unloadable", err)
			continue
		}
		id := dedup.IDOf(sch.EventID(rec))
		key := chstore.ResumeKey{Table: t.Name, Partition: m.Partition, Month: rs.Month(rs.Len() - 1)}
		if last, ok := resume[key]; ok && m.Offset <= last {
			rs.DropLast() // this very record is stored already
			s.m.skipped.Inc()
			ids.Add(m.Partition, id)
			ids.Advance(m.Partition, dedup.Checkpoint{Indexed: m.Offset, Stored: m.Offset})
			// The attempt that stored it may have ended before its ids were:
			// recording them again costs nothing.
			sc.stored.Add(m.Partition, m.Offset, sch.EventID(rec))
			continue
		}
		sc.queries = append(sc.queries, dedup.Query{Part: m.Partition, ID: id})
		sc.rows = append(sc.rows, rowAt{rs, rs.Len() - 1, m.Offset, sch.EventID(rec)})
	}
	// One lookup for the whole batch: the index answers in key order, which
	// is several times cheaper than record by record.
	if err := ids.Lookup(sc.queries); err != nil {
		s.stop(err)
		return err
	}
	for i, q := range sc.queries {
		at := sc.rows[i]
		if q.Dup { // another copy of this event is stored, or earlier in this batch
			sc.drop[at.rows] = append(sc.drop[at.rows], at.row)
			ids.Advance(q.Part, dedup.Checkpoint{Indexed: at.offset, Stored: -1})
		} else {
			ids.Advance(q.Part, dedup.Checkpoint{Indexed: at.offset, Stored: at.offset})
			sc.stored.Add(q.Part, at.offset, at.eventID)
		}
	}
	for rs, drop := range sc.drop {
		s.m.dups.Add(float64(rs.DropRows(drop)))
	}
	if len(dead) > 0 {
		if err := stream.Retry(ctx, s.log, func() error { return s.dlq.WriteMessages(ctx, dead...) }); err != nil {
			return fmt.Errorf("sink: dead-letter %d records: %w", len(dead), err)
		}
	}
	// The tables' INSERTs run at once: the batch waits for the slowest rather
	// than for their sum, and ClickHouse writes each on its own thread.
	g, gctx := errgroup.WithContext(ctx)
	for kind, rs := range rows {
		if rs.Len() == 0 {
			continue
		}
		g.Go(func() error {
			if err := s.insert(gctx, rs, batch); err != nil {
				return err
			}
			s.m.rows.WithLabelValues(kind).Add(float64(rs.Len()))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// The ids of what the batch stored go to event_ids now that the events are
	// stored, and before the caller commits anything: a sink stopped in
	// between leaves the batch uncommitted, and whoever loads it again skips
	// the stored records by their resume points and records their ids on
	// that path. So event_ids holds the id of every stored event whose offset
	// is committed, which is what a catch-up reads.
	return stream.Retry(ctx, s.log, func() error {
		err := s.store.InsertIDs(ctx, &sc.stored)
		if err != nil {
			s.m.failures.Inc()
		}
		return err
	})
}

// insert sends rs as one INSERT, retrying until ClickHouse acknowledges it or ctx
// ends. Before a retry it drops the rows the server stored anyway: a failed
// INSERT may have been written and failed only to answer.
func (s *sinker) insert(ctx context.Context, rs *chstore.Rows, batch []kafka.Message) error {
	failed := false
	return stream.Retry(ctx, s.log, func() error {
		if failed {
			stored, err := s.store.Resume(ctx, partitionsOf(batch)...)
			if err != nil {
				return err
			}
			if n := rs.DropStored(stored); n > 0 {
				s.log.Warn("a failed INSERT was stored after all; not inserting it again", "table", rs.Table().Name, "rows", n)
				s.m.skipped.Add(float64(n))
			}
			if rs.Len() == 0 {
				return nil
			}
		}
		start := time.Now()
		err := s.store.Insert(ctx, rs)
		failed = err != nil
		if err != nil {
			s.m.failures.Inc()
			return err
		}
		s.m.insert.Observe(time.Since(start).Seconds())
		return nil
	})
}

// lookups is the memory load keeps from one batch to the next for the index
// lookups: a query per record to insert, and where its row is; and the ids of
// the batch's stored records, for event_ids.
type lookups struct {
	queries []dedup.Query
	rows    []rowAt
	drop    map[*chstore.Rows][]int // rows found to be copies, ascending per table
	stored  chstore.IDs
}

// rowAt is where a record's row is in its table's buffer.
type rowAt struct {
	rows    *chstore.Rows
	row     int
	offset  int64
	eventID string
}

func (l *lookups) reset() {
	l.queries = l.queries[:0]
	clear(l.rows) // let the last batch's buffers go
	l.rows = l.rows[:0]
	l.stored.Reset()
	if l.drop == nil {
		l.drop = map[*chstore.Rows][]int{}
	}
	for rs, d := range l.drop {
		l.drop[rs] = d[:0]
	}
}

// partitionsOf lists the partitions a batch holds records of.
func partitionsOf(batch []kafka.Message) []int {
	var parts []int
	seen := map[int]bool{}
	for _, m := range batch {
		if !seen[m.Partition] {
			seen[m.Partition] = true
			parts = append(parts, m.Partition)
		}
	}
	return parts
}
