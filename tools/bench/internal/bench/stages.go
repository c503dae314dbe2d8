package bench

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/veiltelemetry/veil/internal/sink"
)

// stages runs each binary alone: the producer fills the raw topic, then the
// enricher drains it into the clean topic, then the sink loads that into
// ClickHouse. A consumer's time runs from when its group had every partition
// (startup is reported apart) until its committed lag is 0 (enricher) or every
// clean record is queryable (sink).
func (r *run) stages(ctx context.Context) (*Stages, error) {
	n := int64(r.cfg.StageEvents)
	t, err := r.topicSet(ctx, "stage")
	if err != nil {
		return nil, err
	}
	st := &Stages{Events: n}

	r.log.Info("stage: producer simulate", "events", n, "topic", t.Raw)
	p, sum, err := r.simulate(ctx, "stage-producer", t, "--count", strconv.FormatInt(n, 10), "--rate", "0")
	if err != nil {
		return st, err
	}
	if sum.Sent != n {
		return st, fmt.Errorf("producer simulate: %d of %d events acknowledged", sum.Sent, n)
	}
	u := p.Usage()
	st.Producer = &StageRun{Throughput: Throughput{Events: sum.Sent, Seconds: sum.Seconds, PerSec: sum.Rate}, PeakRSS: u.PeakRSS, CPUSeconds: u.CPU}
	r.log.Info("stage: producer done", "per_second", int(sum.Rate))

	r.log.Info("stage: enricher run on the filled raw topic")
	group := r.group("stage", "enricher")
	e, err := r.startEnricher(ctx, "stage-enricher", t, group)
	if err != nil {
		return st, err
	}
	t0, err := r.waitAssigned(ctx, group, t.Raw, e)
	if err != nil {
		return st, err
	}
	err = poll(ctx, 100*time.Millisecond, max(3*time.Minute, time.Duration(n/2000)*time.Second), "the enricher to commit every raw record", func() (bool, error) {
		if done, _ := e.Exited(); done {
			return false, e.exitedErr()
		}
		lag, err := r.admin.lag(ctx, group, t.Raw, r.cfg.Partitions)
		return err == nil && lag == 0, nil
	})
	t1 := time.Now()
	if err != nil {
		return st, err
	}
	m, err := scrape(ctx, e.MetricsAddr)
	if err != nil {
		return st, err
	}
	cleanN := int64(m.Sum("veil_enricher_records_total", map[string]string{"outcome": "clean"}))
	u = e.Usage()
	if err := e.Stop(); err != nil {
		r.log.Warn("enricher did not stop cleanly", "err", err)
	}
	st.Enricher = &StageRun{Throughput: throughput(n, t1.Sub(t0)), StartupSeconds: t0.Sub(e.Started).Seconds(), PeakRSS: u.PeakRSS, CPUSeconds: u.CPU}
	r.log.Info("stage: enricher done", "per_second", int(st.Enricher.PerSec), "clean", cleanN)
	if cleanN != n {
		r.log.Warn("stage: not every event came out clean", "clean", cleanN, "events", n)
	}

	r.log.Info("stage: sink run on the filled clean topic", "records", cleanN)
	group = r.group("stage", "sink")
	db := r.database("stage")
	s, err := r.startSink(ctx, "stage-sink", t, group, db)
	if err != nil {
		return st, err
	}
	t0, err = r.waitAssigned(ctx, group, t.Clean, s)
	if err != nil {
		return st, err
	}
	var landed uint64
	err = poll(ctx, 100*time.Millisecond, max(3*time.Minute, time.Duration(n/2000)*time.Second), "every clean record to be queryable", func() (bool, error) {
		if done, _ := s.Exited(); done {
			return false, s.exitedErr()
		}
		landed, err = r.ch.landed(ctx, db)
		return err == nil && landed >= uint64(cleanN), nil
	})
	t1 = time.Now()
	if err != nil {
		return st, fmt.Errorf("%w (%d of %d rows landed)", err, landed, cleanN)
	}
	u = s.Usage()
	if err := s.Stop(); err != nil {
		r.log.Warn("sink did not stop cleanly", "err", err)
	}
	st.Sink = &StageRun{Throughput: throughput(cleanN, t1.Sub(t0)), StartupSeconds: t0.Sub(s.Started).Seconds(), PeakRSS: u.PeakRSS, CPUSeconds: u.CPU}
	if batch, wait := sinkBatching(r.cfg.SinkBatch); cleanN%int64(batch) != 0 {
		st.Sink.Note = fmt.Sprintf("the last batch (%s of %s records) waits out --batch-wait %s; make --stage-events a multiple of the batch",
			count(cleanN%int64(batch)), count(int64(batch)), wait)
	}
	r.log.Info("stage: sink done", "per_second", int(st.Sink.PerSec))
	if landed != uint64(cleanN) {
		return st, fmt.Errorf("sink stage: %d rows landed for %d clean records", landed, cleanN)
	}
	return st, nil
}

// linkBaselines sets each stage's baseline and ratio once both are known:
// producer over raw produce, enricher over raw consume, sink over raw insert.
func (r *run) linkBaselines() {
	b, st := r.res.Baselines, r.res.Stages
	if b == nil || st == nil {
		return
	}
	link := func(run *StageRun, base float64) {
		if run != nil && base > 0 {
			run.Baseline, run.Ratio = base, run.PerSec/base
		}
	}
	link(st.Producer, b.KafkaProduce.PerSec)
	link(st.Enricher, b.KafkaConsume.PerSec)
	link(st.Sink, b.ClickHouseRaw.PerSec)
}

// sinkBatching returns the sink's records per batch (override, or its
// default) and its batch wait, read from the sink's own flag defaults.
func sinkBatching(override int) (int, time.Duration) {
	var c sink.Config
	c.Register(flag.NewFlagSet("sink", flag.ContinueOnError))
	if override > 0 {
		return override, c.Batch.MaxWait
	}
	return c.Batch.MaxRecords, c.Batch.MaxWait
}
