package sink

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/internal/stream"
)

// prepare readies an assigned partition before its first record is loaded
// (stream.AssignedConfig.Prepare, retried until it succeeds or the generation
// ends): it reads the offsets ClickHouse stored of the partition per table and
// month, which loading skips, and catches the dedup index up with the
// partition. The source prepares a generation's partitions only once the
// batches of the previous one were given back, so no batch in hand still
// needs the resume points this replaces.
func (s *sinker) prepare(ctx context.Context, a stream.Assignment) error {
	log := s.log.With("partition", a.Partition)
	resume, err := s.store.Resume(ctx, a.Partition)
	if err != nil {
		return err
	}
	caughtUp, err := s.catchUp(ctx, a.Partition, log)
	if err != nil {
		return err
	}
	s.resume.set(a.Partition, resume)
	log.Debug("partition prepared", "generation", a.Generation, "offset", a.Offset, "resume_points", len(resume), "ids_caught_up", caughtUp)
	return nil
}

// resumePoints holds the offsets ClickHouse had of each partition this
// instance was assigned, per table and month, read when the partition was
// prepared. A map all returned is never changed: set publishes a new one, so
// a batch reads it without a lock while other partitions are prepared.
type resumePoints struct {
	mu  sync.Mutex // serializes set
	cur atomic.Pointer[map[chstore.ResumeKey]int64]
}

// set publishes the resume points of part, replacing those it had.
func (r *resumePoints) set(part int, points map[chstore.ResumeKey]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := map[chstore.ResumeKey]int64{}
	for k, v := range r.all() {
		if k.Partition != part {
			next[k] = v
		}
	}
	maps.Copy(next, points)
	r.cur.Store(&next)
}

// all returns the resume points of every partition prepared so far.
func (r *resumePoints) all() map[chstore.ResumeKey]int64 {
	if p := r.cur.Load(); p != nil {
		return *p
	}
	return nil
}
