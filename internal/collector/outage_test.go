package collector

import (
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veiltelemetry/veil/internal/testenv"
)

// With Kafka stopped in the middle of the load, the collector answers 503 with
// Retry-After within the produce timeout, holds no more than --max-inflight bytes,
// recovers when Kafka returns, and every event it answered 202 for is in the raw
// topic.
func TestKafkaOutageAnswers503AndLosesNothingAcknowledged(t *testing.T) {
	const (
		clients        = 16
		batch          = 400
		produceTimeout = 3 * time.Second
		limit          = 8 << 20
	)
	k := testenv.PrivateKafka(t)
	brokers := k.Brokers()
	tp := testenv.Topics(t, brokers, 4)
	ts := kafkaServerOn(t, brokers, tp, "--produce-timeout", produceTimeout.String(), "--max-inflight", "8MiB",
		"--max-body", "2MiB", "--max-decompressed", "4MiB", "--retry-after", "1s")

	var (
		phase    atomic.Int32 // 0 Kafka up, 1 stopped, 2 started again
		mu       sync.Mutex
		acked    = map[string]bool{}
		statuses [3]map[int]int
		slowest  [3]time.Duration
		problems []string
	)
	for i := range statuses {
		statuses[i] = map[int]int{}
	}
	count := func(p int32, code int) int {
		mu.Lock()
		defer mu.Unlock()
		return statuses[p][code]
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seed := uint64(1000 + c)
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				recs := nativeEvents(batch, seed*7919+uint64(n))
				body := jsonBatch(t, recs)
				p := phase.Load()
				start := time.Now()
				a, err := tryPost(client, ts.URL, tokenA, "application/json", "", body)
				el := time.Since(start)
				mu.Lock()
				switch {
				case err != nil:
					problems = append(problems, fmt.Sprintf("phase %d: %v", p, err))
				case a.Status == http.StatusAccepted && a.Body.Accepted == batch:
					for _, r := range recs {
						acked[r["event_id"].(string)] = true
					}
				case a.Status == http.StatusServiceUnavailable && a.RetryAfter == "1" && a.Body.Accepted == 0:
				default:
					problems = append(problems, fmt.Sprintf("phase %d: %d (Retry-After %q) %s", p, a.Status, a.RetryAfter, truncate(a.Raw, 300)))
				}
				if err == nil {
					statuses[p][a.Status]++
					if a.Status == http.StatusServiceUnavailable {
						slowest[p] = max(slowest[p], el)
					}
				}
				mu.Unlock()
				if err != nil || a.Status != http.StatusAccepted {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	// Watch the in-flight bytes and the heap while the load runs.
	var maxInflight, maxHeap atomic.Uint64
	go func() {
		var ms runtime.MemStats
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if n := uint64(ts.InflightBytes()); n > maxInflight.Load() {
				maxInflight.Store(n)
			}
			if i%20 == 0 {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > maxHeap.Load() {
					maxHeap.Store(ms.HeapInuse)
				}
			}
		}
	}()
	wait := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				close(done)
				wg.Wait()
				t.Fatalf("%s: not reached within %s (statuses %v, problems %v)", what, d, statuses, problems)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	wait("accepted batches before the outage", 60*time.Second, func() bool { return count(0, 202) >= 30 })
	t.Logf("stopping Kafka after %d accepted batches", count(0, 202))
	k.Stop()
	phase.Store(1)
	wait("503 answers while Kafka is down", 60*time.Second, func() bool { return count(1, 503) >= 2*clients })
	t.Logf("starting Kafka again after %d answers 503", count(1, 503))
	k.Start()
	phase.Store(2)
	wait("accepted batches after Kafka returned", 90*time.Second, func() bool { return count(2, 202) >= 30 })
	close(done)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("answers: before %v, during %v, after %v; slowest 503 during the outage %s", statuses[0], statuses[1], statuses[2], slowest[1].Round(time.Millisecond))
	t.Logf("max in-flight %d bytes (limit %d), max heap in use %d MiB", maxInflight.Load(), limit, maxHeap.Load()>>20)
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Errorf("%d unexpected answers, e.g.:\n%s", len(problems), strings.Join(problems[:min(len(problems), 10)], "\n"))
	}
	if slowest[1] > produceTimeout+2*time.Second {
		t.Errorf("slowest 503 during the outage took %s, want at most the produce timeout %s (+2s)", slowest[1], produceTimeout)
	}
	if n := maxInflight.Load(); n > limit {
		t.Errorf("in-flight bytes reached %d, over the limit %d", n, limit)
	}
	// The collector's share of the heap is bounded by the in-flight budget; the
	// test's own clients add their batches. A leak would grow far past this.
	if h := maxHeap.Load(); h > 256<<20 {
		t.Errorf("heap in use reached %d MiB during the outage", h>>20)
	}

	got := rawRecords(t, brokers, tp.Raw)
	missing := 0
	for id := range acked {
		if _, ok := got[id]; !ok {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events answered 202 are not in the raw topic", missing, len(acked))
	}
	t.Logf("%d acknowledged events all in the raw topic (%d distinct events there, the rest from batches answered 503)", len(acked), len(got))
}
