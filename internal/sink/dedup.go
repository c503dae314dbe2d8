package sink

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/dedup"
)

// catchUpBatch is how many ids a catch-up adds to the index per commit.
const catchUpBatch = 50000

// catchUp brings the dedup index of partition part up to what ClickHouse
// stored, and returns how many ids it added. It runs when the partition is
// assigned, before its first record is loaded: the ids ClickHouse holds above
// the index's checkpoint are the ones another instance stored while it held
// the partition, or this one stored before a crash lost the index's last
// commits. A new instance, with an empty index, rebuilds the whole horizon
// this way. ClickHouse knows only the hour of an insert, so an id caught up is
// dated at the end of that hour: remembered a little longer, never shorter.
//
// An index whose last stored offset ClickHouse does not hold describes
// another database (dropped and created again since) or ids past the horizon;
// it is emptied first. A failed catch-up leaves the ids it added and the old
// checkpoint: the next attempt adds them again, which changes nothing.
func (s *sinker) catchUp(ctx context.Context, part int, log *slog.Logger) (int64, error) {
	cp, err := s.idx.Checkpoint(part)
	if err != nil {
		return 0, err
	}
	if cp.Stored >= 0 {
		has, err := s.store.HasStoredID(ctx, part, cp.Stored)
		if err != nil {
			return 0, err
		}
		if !has {
			log.Info("ClickHouse does not hold the last offset the dedup index saw stored; rebuilding the partition's index", "offset", cp.Stored)
			if err := s.idx.Forget(part); err != nil {
				return 0, err
			}
			cp = dedup.None
		}
	}
	start := time.Now()
	b := s.idx.NewBatch()
	defer b.Close()
	since := start.Add(-s.idx.Horizon() - s.idx.BucketWidth() - time.Hour)
	var added int64
	top := cp.Indexed
	err = s.store.StoredIDs(ctx, part, cp.Indexed, since, func(id chstore.StoredID) error {
		if b.AddAt(part, dedup.IDOf(id.EventID), id.InsertedHour.Add(time.Hour)) {
			added++
		}
		top = max(top, id.Offset)
		if b.Added() >= catchUpBatch {
			return b.Commit() // no checkpoint yet: the rows come in no order
		}
		return nil
	})
	if err != nil {
		return added, fmt.Errorf("sink: catch the dedup index of partition %d up: %w", part, err)
	}
	if top > cp.Indexed {
		b.Advance(part, dedup.Checkpoint{Indexed: top, Stored: top})
	}
	if err := b.Commit(); err != nil {
		return added, err
	}
	s.m.caughtUp.Add(float64(added))
	if added > 0 {
		log.Info("dedup index caught up from ClickHouse", "ids", added, "above_offset", cp.Indexed, "to_offset", top, "seconds", time.Since(start).Seconds())
	}
	return added, nil
}

// expire drops what is older than the horizon until ctx ends: the index's old
// buckets (checked a few times per bucket) and the days of ClickHouse's
// event_ids that no catch-up can need any more (checked hourly). Failures are
// logged and retried at the next tick; they cost disk space, not correctness.
func (s *sinker) expire(ctx context.Context) {
	every := min(s.idx.BucketWidth()/4, time.Minute)
	keep := s.idx.Horizon() + s.idx.BucketWidth() + time.Hour // what a catch-up reads
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastDrop time.Time
	for {
		if _, err := s.idx.Expire(); err != nil {
			s.log.Warn("expiring the dedup index", "err", err)
		}
		if time.Since(lastDrop) >= time.Hour {
			days, err := s.store.DropStoredIDsBefore(ctx, time.Now().Add(-keep))
			if err != nil {
				s.log.Warn("dropping old days of event_ids", "err", err)
			} else {
				lastDrop = time.Now()
			}
			if len(days) > 0 {
				s.log.Info("dropped days of event_ids older than the dedup horizon", "days", days)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
