package e2e

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/veiltelemetry/veil/internal/sink"
	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/internal/testenv"
)

// These tests break the pipeline while it loads and then check what analysts
// would see: exactly the events Kafka acknowledged to the producer, each once, in
// the table and in the rollups.

// loadInBackground simulates n events at rate events/s while the test does
// damage, and returns a wait function.
func (h *harness) loadInBackground(n int64, rate int) func() {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); h.simulate(n, rate, 11) }()
	return wg.Wait
}

func TestSinkKilledRepeatedlyDuringLoadLosesAndDuplicatesNothing(t *testing.T) {
	const n = 200000
	h := newHarness(t, testenv.Kafka(t), testenv.ClickHouse(t))
	h.startEnricher()
	dir := t.TempDir() // one instance, restarted: it keeps its dedup index
	sink := h.startSinkProcess("--dedup-dir", dir)
	h.waitTables()
	wait := h.loadInBackground(n, 25000) // about 8s of load
	kills := 0
	deadline := time.Now().Add(12 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(1200 * time.Millisecond)
		sink.kill() // SIGKILL: no drain, no commit
		kills++
		sink = h.startSinkProcess("--dedup-dir", dir)
	}
	wait()
	t.Logf("sink killed %d times", kills)
	h.waitRows(n, 3*time.Minute)
	h.assertExactlyOnce(n)
}

func TestClickHouseRestartDuringLoadLosesAndDuplicatesNothing(t *testing.T) {
	const n = 100000
	ch := testenv.PrivateClickHouse(t)
	h := newHarness(t, testenv.Kafka(t), ch.ClickHouse())
	h.startEnricher()
	h.startSink()
	h.waitTables()
	wait := h.loadInBackground(n, 20000)
	time.Sleep(2 * time.Second)
	ch.Stop()
	time.Sleep(2 * time.Second) // the sink keeps failing and must not move on
	ch.Start()
	wait()
	h.waitRows(n, 3*time.Minute)
	h.assertExactlyOnce(n)
}

func TestKafkaRestartDuringLoadLosesAndDuplicatesNothing(t *testing.T) {
	const n = 100000
	kafka := testenv.PrivateKafka(t)
	h := newHarness(t, kafka.Kafka(), testenv.ClickHouse(t))
	h.startEnricher()
	h.startSink()
	h.waitTables()
	wait := h.loadInBackground(n, 20000)
	time.Sleep(2 * time.Second)
	kafka.Kill()
	kafka.Start()
	wait()
	h.waitRows(n, 4*time.Minute)
	h.assertExactlyOnce(n)
}

func TestSinksJoiningAndLeavingTheGroupShareTheLoadExactly(t *testing.T) {
	const n = 150000
	h := newHarness(t, testenv.Kafka(t), testenv.ClickHouse(t))
	h.startEnricher()
	first := h.startSink()
	h.waitTables()
	second := h.startSink()
	wait := h.loadInBackground(n, 25000)
	time.Sleep(2 * time.Second)
	third := h.startSink() // rebalance: three members
	time.Sleep(2 * time.Second)
	first.stop(t) // graceful leave: rebalance again
	time.Sleep(1 * time.Second)
	wait()
	h.waitRows(n, 3*time.Minute)
	h.assertExactlyOnce(n)
	second.stop(t)
	third.stop(t)
}

// cleanEnd is the number of records in the clean topic (the sum of its
// partitions' end offsets).
func (h *harness) cleanEnd() int64 {
	h.t.Helper()
	n, err := stream.PartitionCount(context.Background(), h.brokers, h.topics.Clean)
	if err != nil {
		h.t.Fatal(err)
	}
	var sum int64
	for p := range n {
		conn, err := h.brokers.DialLeader(context.Background(), h.topics.Clean, p)
		if err != nil {
			h.t.Fatal(err)
		}
		end, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			h.t.Fatal(err)
		}
		sum += end
	}
	return sum
}

// liveHeap is the heap still referenced after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// While ClickHouse is down the sink stops fetching: the records that pile up in
// the clean topic stay there instead of in the sink's memory, which stays within
// what its configuration allows per partition (a batch, the reader's queue and one
// fetch). When ClickHouse is back, everything lands exactly once.
func TestSinkMemoryStaysBoundedWhileClickHouseIsDown(t *testing.T) {
	const before, during = 20000, 400000
	ch := testenv.PrivateClickHouse(t)
	h := newHarness(t, testenv.Kafka(t), ch.ClickHouse())
	h.startEnricher()
	var cfg sink.Config
	testenv.Configure(t, cfg.Register, append(h.sinkArgs(), "--batch-records", "2000")...)
	h.run("sink", func(ctx context.Context) error {
		return sink.Run(ctx, cfg, h.log.With("bin", "sink"), prometheus.NewRegistry())
	})
	h.waitTables()
	h.simulate(before, 0, 21)
	h.waitRows(before, 2*time.Minute)
	base := liveHeap()

	ch.Stop()
	h.simulate(during, 0, 22)
	testenv.Eventually(t, 2*time.Minute, "the enricher cleaned every record", func() (bool, string) {
		n := h.cleanEnd()
		return n >= before+during, fmt.Sprintf("%d of %d in the clean topic", n, before+during)
	})
	time.Sleep(3 * time.Second) // the sink has had time to fetch whatever it would
	held := liveHeap()          // the producer and the enricher are idle now: what grew is the sink's
	if f := os.Getenv("VEIL_HEAP_PROFILE"); f != "" {
		if out, err := os.Create(f); err == nil {
			_ = pprof.WriteHeapProfile(out)
			out.Close()
		}
	}

	// Per partition the sink may hold a batch and the reader's queue (2,000
	// records each here; simulated clean records take under 1 KiB with their
	// Kafka metadata) and one fetch of 4 MiB. Holding the 400,000 records that
	// piled up would take over 120 MiB.
	const parts, perRecord = 4, 1024
	bound := uint64(parts * ((2000+2000)*perRecord + 4<<20))
	grew := held - min(base, held)
	t.Logf("live heap: %d MiB before the outage, %d MiB with %d records waiting (+%d MiB, bound %d MiB)", base>>20, held>>20, during, grew>>20, bound>>20)
	if grew > bound {
		t.Errorf("live heap grew by %d MiB while ClickHouse was down, more than the %d MiB the configuration allows: the sink kept fetching", grew>>20, bound>>20)
	}
	ch.Start()
	h.waitRows(before+during, 3*time.Minute)
	h.assertExactlyOnce(before + during)
}
