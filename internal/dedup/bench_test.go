package dedup

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/tools/bench/naive"
)

// BenchmarkIndex is the sink's index work per event in steady state: look the
// id up in every live bucket, add it, and commit every 25,000 (one batch), on
// an index already holding 2,000,000 ids of 8 partitions spread over the
// horizon. cpu-ns/event is the CPU time of the whole process per event, so it
// counts Pebble's flushes and compactions, which run on goroutines of their
// own; ns/op is wall time. BenchmarkWindow is the baseline: the in-memory
// window of 100,000 ids per partition that the index replaced, which forgot an
// id after 100,000 others.
func BenchmarkIndex(b *testing.B) {
	const horizon, batch, parts = 24 * time.Hour, 25000, 8
	c := &clock{t: epoch}
	x, err := Open(Options{Dir: b.TempDir(), Horizon: horizon, Identity: "bench", Now: c.now}) // the sink's default memory
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	// 2,000,000 ids over one horizon.
	for i := range 80 {
		c.set(epoch.Add(time.Duration(i) * horizon / 80))
		fill := x.NewBatch()
		for j := range batch {
			fill.Add(j%parts, randomID(rng))
		}
		if err := fill.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	c.set(epoch.Add(horizon))
	settle(x)
	qs := make([]Query, 0, batch)
	bt := x.NewBatch()
	defer bt.Close()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		qs = append(qs, Query{Part: i % parts, ID: randomID(rng)})
		if len(qs) == batch || i == b.N-1 {
			bt.Reset()
			if err := bt.Lookup(qs); err != nil {
				b.Fatal(err)
			}
			c.add(time.Second) // 25,000 events a second
			if err := bt.Commit(); err != nil {
				b.Fatal(err)
			}
			qs = qs[:0]
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/event")
}

func BenchmarkWindow(b *testing.B) {
	const parts = 8
	ws := make([]*naive.Window, parts)
	for i := range ws {
		ws[i] = naive.NewWindow(100000)
	}
	ids := make([]string, 1<<18) // more than the window: every add evicts
	for i := range ids {
		ids[i] = fmt.Sprintf("0192f0c4-7d1e-7a3b-9c2d-%012d", i)
	}
	for i, id := range ids {
		ws[i%parts].SeenOrAdd(id)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ws[i%parts].SeenOrAdd(ids[(i+len(ids)/2)&(len(ids)-1)])
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/event")
}

// settle waits until the index has no flush or compaction to do.
func settle(x *Index) {
	for quiet := 0; quiet < 5; {
		m := x.db.Metrics()
		if m.Compact.NumInProgress == 0 && m.Flush.NumInProgress == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cpuTime is the CPU time the process used so far, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
