package bench

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/veiltelemetry/veil/internal/dedup"
	"github.com/veiltelemetry/veil/tools/bench/naive"
)

// The sink's dedup index on its own, against the in-memory window it replaced.
const (
	dedupPrefill = 1_000_000 // ids already in the index when the measurement starts
	dedupHorizon = 24 * time.Hour
	dedupMemory  = dedup.DefaultMemory // the sink's --dedup-memory
	windowSize   = 100_000             // ids per partition of the old window
)

// baselineDedup measures the sink's index work per event: IDOf, a lookup in
// every live bucket and an addition (one sorted Lookup and one Commit per sink
// batch, as the sink does), for the
// baseline's number of new ids, into an index already holding a million spread
// over the horizon. It counts the CPU time of the whole bench process up to the
// index's Close, so Pebble's flushes and compactions are in the figure. The
// baseline is the old window's look-up-and-add on the same ids. The index's
// disk use is measured after Close.
func (r *run) baselineDedup(ctx context.Context, b *Baselines, batch int) error {
	n := r.cfg.BaselineEvents
	dir, err := os.MkdirTemp("", "veil-bench-dedup-")
	if err != nil {
		return fmt.Errorf("bench: dedup directory: %w", err)
	}
	defer os.RemoveAll(dir)
	clock := &benchClock{t: time.Now().Add(-dedupHorizon)}
	idx, err := dedup.Open(dedup.Options{Dir: dir, Horizon: dedupHorizon, Memory: dedupMemory, Identity: "bench", Now: clock.now})
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			idx.Close()
		}
	}()
	rng := rand.New(rand.NewPCG(7, 8))
	parts := r.cfg.Partitions
	r.log.Info("baselines: dedup index prefill", "ids", dedupPrefill)
	for i := 0; i < dedupPrefill; i += batch {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		clock.add(dedupHorizon * time.Duration(batch) / dedupPrefill)
		bt := idx.NewBatch()
		for j := range min(batch, dedupPrefill-i) {
			bt.Add(j%parts, dedup.IDOf(randomUUID(rng)))
		}
		err := bt.Commit()
		bt.Close()
		if err != nil {
			return err
		}
	}
	clock.set(time.Now())
	ids := make([]string, n)
	for i := range ids {
		ids[i] = randomUUID(rng)
	}

	r.log.Info("baselines: dedup index lookup+add", "ids", n, "batch", batch)
	cpu0, t0 := processCPU(), time.Now()
	bt := idx.NewBatch()
	qs := make([]dedup.Query, 0, batch)
	for i, s := range ids {
		qs = append(qs, dedup.Query{Part: i % parts, ID: dedup.IDOf(s)})
		if len(qs) == batch || i == n-1 {
			bt.Reset()
			err := bt.Lookup(qs) // as the sink does: one sorted lookup per batch
			if err == nil {
				err = bt.Commit()
			}
			if err != nil {
				bt.Close()
				return err
			}
			qs = qs[:0]
		}
	}
	bt.Close()
	closed = true
	if err := idx.Close(); err != nil {
		return err
	}
	b.DedupIDs, b.DedupPrefill = n, dedupPrefill
	b.DedupIndexNs = float64(processCPU()-cpu0) / float64(n)
	b.DedupIndexWallNs = float64(time.Since(t0).Nanoseconds()) / float64(n)
	if b.DedupIndexBytes, err = dirBytes(dir); err != nil {
		return err
	}

	ws := make([]*naive.Window, parts)
	for i := range ws {
		ws[i] = naive.NewWindow(windowSize)
	}
	for i := range min(n, parts*windowSize) { // full windows: every add evicts
		ws[i%parts].SeenOrAdd(randomUUID(rng))
	}
	cpu0 = processCPU()
	for i, s := range ids {
		ws[i%parts].SeenOrAdd(s)
	}
	b.DedupWindowNs = float64(processCPU()-cpu0) / float64(n)
	r.log.Info("baselines: dedup done", "index_cpu_ns", int(b.DedupIndexNs), "window_cpu_ns", int(b.DedupWindowNs),
		"index_bytes", b.DedupIndexBytes)
	return nil
}

// benchClock is a settable clock for the index.
type benchClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *benchClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *benchClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *benchClock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// randomUUID is a version 4 UUID in its canonical form, as clients send them.
func randomUUID(rng *rand.Rand) string {
	var u uuid.UUID
	for i := range u {
		u[i] = byte(rng.Uint32())
	}
	u[6], u[8] = u[6]&0x0f|0x40, u[8]&0x3f|0x80
	return u.String()
}

// processCPU is the CPU time the bench process used so far, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// dirBytes is the size of the regular files under dir.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("bench: size of %s: %w", dir, err)
	}
	return n, nil
}
