package e2e

import (
	"sync"
	"testing"
	"time"

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
	sink := h.startSinkProcess()
	h.waitTables()
	wait := h.loadInBackground(n, 25000) // about 8s of load
	kills := 0
	deadline := time.Now().Add(12 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(1200 * time.Millisecond)
		sink.kill() // SIGKILL: no drain, no commit
		kills++
		sink = h.startSinkProcess()
	}
	wait()
	t.Logf("sink killed %d times", kills)
	h.waitRows(n, 3*time.Minute)
	h.assertExactlyOnce(n)
}

func TestClickHouseRestartDuringLoadLosesAndDuplicatesNothing(t *testing.T) {
	const n = 100000
	ch := testenv.PrivateClickHouse(t)
	h := newHarness(t, testenv.Kafka(t), ch.Addr)
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
	h := newHarness(t, kafka.Brokers(), testenv.ClickHouse(t))
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
