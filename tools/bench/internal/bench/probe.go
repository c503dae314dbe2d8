package bench

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/veiltelemetry/veil/internal/stream"
	"github.com/veiltelemetry/veil/schemas"
)

// A prober measures how long an event takes from the raw topic to a ClickHouse
// row, without the pipeline carrying any arrival time: no time finer than the
// hour leaves the enricher (clean records, their Kafka timestamps and every
// ClickHouse column), so the sink cannot tell how old an event is. Instead the
// prober writes marker events of its own to the raw topic at a steady pace,
// keeps the time Kafka acknowledged each one in its own memory, and polls
// ClickHouse until their rows appear. The markers are update checks (the
// serverinfo kind, a small table to poll) of one installation id; they travel
// with the load through the same partitions, batches and inserts.
//
// The figure is a sample (probeEvery apart) and each observation is late by at
// most one poll (probePoll).
type prober struct {
	w      *kafka.Writer
	schema *schemas.Schema
	ch     *chClient
	db     string

	mu      sync.Mutex
	pending map[string]time.Time // event id → acknowledged at
	seen    []float64            // seconds from acknowledgement to queryable
	failed  int                  // markers Kafka did not acknowledge
}

const (
	probeEvery          = 100 * time.Millisecond
	probePoll           = 100 * time.Millisecond
	probeInstallationID = "bench-probe"
)

func newProber(c stream.Cluster, topic, compression string, reg *schemas.Registry, ch *chClient, db string) (*prober, error) {
	// A marker must not wait for a batch to fill.
	w, err := stream.NewWriter(stream.WriterConfig{Cluster: c, Topic: topic, Compression: compression, BatchTimeout: time.Millisecond})
	if err != nil {
		return nil, err
	}
	s := reg.Latest(schemas.Raw, "serverinfo")
	if s == nil {
		return nil, fmt.Errorf("bench: no raw serverinfo schema for the latency markers")
	}
	return &prober{w: w, schema: s, ch: ch, db: db, pending: map[string]time.Time{}}, nil
}

// run writes a marker every probeEvery and polls for the pending ones until ctx
// ends, then polls for up to drain more for the markers still on their way.
func (p *prober) run(ctx context.Context, drain time.Duration) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(probeEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				p.send(ctx)
			}
		}
	}()
	t := time.NewTicker(probePoll)
	defer t.Stop()
	for ctx.Err() == nil {
		select {
		case <-t.C:
			p.poll(ctx)
		case <-ctx.Done():
		}
	}
	for end := time.Now().Add(drain); p.waiting() > 0 && time.Now().Before(end); {
		time.Sleep(probePoll)
		p.poll(context.WithoutCancel(ctx))
	}
	wg.Wait()
	p.w.Close()
}

// probeWriteTimeout bounds the write of one marker.
const probeWriteTimeout = 30 * time.Second

func (p *prober) send(ctx context.Context) {
	id := uuid.NewString()
	now := time.Now()
	rec := map[string]any{
		"event_id": id, "event_time": now, "installation_id": probeInstallationID, "client_ip": "",
		"platform": "linux", "app_version": "1.42.1", "os_version": "debian-12", "update_channel": "stable",
		"cpu_arch": "x86_64", "transcoder_hw": "none", "server_name": "",
	}
	value, err := p.schema.Encode(nil, rec)
	if err == nil {
		// The write outlives the phase: one cancelled when the phase ends was
		// often stored all the same (on the cluster, where acks=all takes
		// longer), and landed as an event the bench had not counted.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeWriteTimeout)
		defer cancel()
		err = p.w.WriteMessages(wctx, kafka.Message{Key: []byte(probeInstallationID), Value: value, Time: now,
			Headers: stream.RecordHeaders(p.schema, "bench-prober")})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failed++
		return
	}
	p.pending[id] = time.Now()
}

// acked is how many markers Kafka acknowledged.
func (p *prober) acked() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int64(len(p.pending) + len(p.seen))
}

func (p *prober) waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// poll asks ClickHouse which pending markers have a row, and records their
// latency.
func (p *prober) poll(ctx context.Context) {
	p.mu.Lock()
	ids := make([]string, 0, len(p.pending))
	for id := range p.pending {
		ids = append(ids, "'"+id+"'") // UUIDs made here: nothing to escape
	}
	p.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	rows, err := p.ch.conn.Query(ctx, fmt.Sprintf("SELECT event_id FROM %s.serverinfo WHERE event_id IN (%s)", p.db, strings.Join(ids, ",")))
	if err != nil {
		return // the table may not exist yet; the next poll asks again
	}
	defer rows.Close()
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for rows.Next() {
		var id string
		if rows.Scan(&id) != nil {
			continue
		}
		if at, ok := p.pending[id]; ok {
			p.seen = append(p.seen, now.Sub(at).Seconds())
			delete(p.pending, id)
		}
	}
}

// quantiles returns the latency quantiles of the markers that landed, how
// many Kafka acknowledged but were never seen (lost, or still on their way at
// the end), and how many writes failed: a write cut short (by the end of the
// load, or a timeout on a busy machine) may still have stored its marker, so
// those may or may not land.
func (p *prober) quantiles() (q Quantiles, unseen, uncertain int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return sampleQuantiles(p.seen), len(p.pending), p.failed
}

// sampleQuantiles are the nearest-rank quantiles of a sample, in seconds.
func sampleQuantiles(xs []float64) Quantiles {
	if len(xs) == 0 {
		return Quantiles{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	p99 := at(0.99)
	return Quantiles{P50: at(0.5), P95: at(0.95), P99: p99, Count: float64(len(s)), P99Bucket: [2]float64{p99, p99 + probePoll.Seconds()}}
}
