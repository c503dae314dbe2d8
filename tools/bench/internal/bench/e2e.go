package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/veiltelemetry/veil/internal/stream"
)

// pipeline is the enrichers and sinks of one end-to-end run.
type pipeline struct {
	topics    stream.Topics
	db        string
	enrichers []*Proc
	sinks     []*Proc
	eGroup    string
	sGroup    string
}

func (p *pipeline) procs() []*Proc { return append(append([]*Proc(nil), p.enrichers...), p.sinks...) }

// endToEnd starts `instances` enrichers and sinks on fresh topics and a fresh
// database, waits until both groups consume, then runs the producer at full
// speed for --duration. The rate is the events Kafka acknowledged over the time
// from the start of sending until the last of them was queryable. Latency
// markers (prober) run alongside; with latency, a second run at half that rate
// measures the latency the pipeline itself adds, without a backlog.
func (r *run) endToEnd(ctx context.Context, phase string, instances int, latency bool) (*EndToEnd, error) {
	t, err := r.topicSet(ctx, phase)
	if err != nil {
		return nil, err
	}
	pl := &pipeline{topics: t, db: r.database(phase), eGroup: r.group(phase, "enricher"), sGroup: r.group(phase, "sink")}
	defer func() {
		for _, p := range pl.procs() {
			if err := p.Stop(); err != nil {
				r.log.Warn("process did not stop cleanly", "proc", p.Name, "err", err)
			}
		}
	}()
	res := &EndToEnd{Enrichers: instances, Sinks: instances, Partitions: r.partitions(), SendSeconds: r.cfg.Duration.Seconds()}
	r.log.Info(phase+": starting the pipeline", "enrichers", instances, "sinks", instances, "database", pl.db)
	for i := 1; i <= instances; i++ {
		e, err := r.startEnricher(ctx, fmt.Sprintf("%s-enricher-%d", phase, i), t, pl.eGroup)
		if e != nil {
			pl.enrichers = append(pl.enrichers, e)
		}
		if err != nil {
			return res, err
		}
		s, err := r.startSink(ctx, fmt.Sprintf("%s-sink-%d", phase, i), t, pl.sGroup, pl.db)
		if s != nil {
			pl.sinks = append(pl.sinks, s)
		}
		if err != nil {
			return res, err
		}
	}
	if _, err := r.waitAssigned(ctx, pl.eGroup, t.Raw, pl.procs()...); err != nil {
		return res, err
	}
	if _, err := r.waitAssigned(ctx, pl.sGroup, t.Clean, pl.procs()...); err != nil {
		return res, err
	}

	r.log.Info(phase+": producer simulate at full speed", "duration", r.cfg.Duration)
	start := time.Now()
	svcPIDs := servicePIDs(map[string]string{"kafka": r.cfg.Brokers[0], "clickhouse": r.cfg.ClickHouseAddr})
	svc0 := serviceCPU(svcPIDs)
	busy0, busyErr := machineBusy()
	ev0, evErr := r.ch.serverEvents(ctx)
	var profiles *[]Profile
	if r.cfg.Profile && phase == "e2e" {
		profiles = &res.Profiles
	}
	full, err := r.sendAndLand(ctx, phase+"-producer", pl, 0, profiles, "--duration", r.cfg.Duration.String(), "--count", "0", "--rate", "0")
	prod, sum, landed := full.prod, full.sum, full.landed
	res.Markers, res.Latency = full.markers, full.latency
	last := time.Now()
	res.ServiceCPU = serviceCPU(svcPIDs)
	if busy1, err := machineBusy(); err == nil && busyErr == nil {
		res.MachineBusy = busy1 - busy0
	}
	if ev1, err := r.ch.serverEvents(ctx); err == nil && evErr == nil {
		res.ClickHouseWork = ev1.work(ev0)
	} else {
		r.log.Warn(phase+": no ClickHouse write counters", "err", errors.Join(evErr, err))
	}
	for name, after := range res.ServiceCPU {
		if before, ok := svc0[name]; ok {
			res.ServiceCPU[name] = after - before
		} else {
			delete(res.ServiceCPU, name) // started during the run: no baseline
		}
	}
	if prod != nil {
		u := prod.Usage()
		res.Processes = append(res.Processes, ProcReport{Name: "producer", PeakRSS: u.PeakRSS, CPUSeconds: u.CPU})
	}
	res.Sent, res.Failed, res.Landed = sum.Sent, sum.Failed, landed
	res.Seconds = last.Sub(start).Seconds()
	res.PerSec = float64(sum.Sent) / max(res.Seconds, 1e-9)
	res.LandedInSeconds = max(0, res.Seconds-sum.Seconds)
	for i, p := range pl.procs() {
		u := p.Usage()
		name := "enricher"
		if i >= len(pl.enrichers) {
			name = "sink"
		}
		if instances > 1 {
			name += "-" + strconv.Itoa(i%instances+1)
		}
		res.Processes = append(res.Processes, ProcReport{Name: name, PeakRSS: u.PeakRSS, CPUSeconds: u.CPU})
	}
	if err != nil {
		return res, err
	}
	// Anything beyond the events sent (a copy loaded twice) would show by now.
	time.Sleep(time.Second)
	if res.Landed, err = r.ch.landed(ctx, pl.db); err != nil {
		return res, err
	}
	if res.Distinct, err = r.ch.distinct(ctx, pl.db); err != nil {
		return res, err
	}
	// The latency markers are events too: they land with the others, and so
	// may a marker whose write failed (cut short at the end of the load).
	want := uint64(res.Sent + res.Markers)
	res.ZeroLoss = zeroLoss(res.Failed, full.unseen, full.uncertain, want, res.Landed, res.Distinct)
	r.log.Info(phase+": landed", "sent", res.Sent, "landed", res.Landed, "distinct", res.Distinct,
		"per_second", int(res.PerSec), "seconds", fmt.Sprintf("%.1f", res.Seconds))

	em, sm, err := r.scrapeAll(ctx, pl)
	if err != nil {
		return res, err
	}
	res.DeadLetters = int64(em.Sum("veil_enricher_records_total", map[string]string{"outcome": "deadletter"}))
	res.Dropped = int64(em.Sum("veil_enricher_records_total", map[string]string{"outcome": "dropped"}))
	res.Duplicates = int64(sm.Sum("veil_sink_duplicates_total", nil))
	res.LagGauges = em.Sum("veil_enricher_consumer_lag", nil) + sm.Sum("veil_sink_consumer_lag", nil)
	if res.LagEnricher, err = r.admin.lag(ctx, pl.eGroup, t.Raw, r.partitions()); err != nil {
		return res, err
	}
	if res.LagSink, err = r.admin.lag(ctx, pl.sGroup, t.Clean, r.partitions()); err != nil {
		return res, err
	}

	if latency && res.PerSec > 0 {
		rate := res.PerSec / 2
		r.log.Info(phase+": latency at half rate", "rate", int(rate), "duration", r.cfg.LatencyDuration)
		ours0 := r.pipelineCPU(pl, svcPIDs)
		busy0, busyErr := machineBusy()
		half, err := r.sendAndLand(ctx, phase+"-producer-half-rate", pl, res.Landed, nil,
			"--duration", r.cfg.LatencyDuration.String(), "--count", "0", "--rate", strconv.FormatFloat(rate, 'f', 0, 64), "--seed", "2")
		hr := &LatencyRun{Rate: rate, Seconds: r.cfg.LatencyDuration.Seconds(), Sent: half.sum.Sent,
			Landed: half.landed - min(half.landed, res.Landed) - uint64(half.markers), Latency: half.latency}
		if busy1, err := machineBusy(); err == nil && busyErr == nil {
			ours := r.pipelineCPU(pl, svcPIDs) - ours0
			if half.prod != nil {
				ours += half.prod.Usage().CPU // started during the run
			}
			hr.MachineBusy = busy1 - busy0
			hr.OthersCPU = max(0, hr.MachineBusy-ours)
		}
		res.HalfRate = hr
		if err != nil {
			return res, err
		}
		r.log.Info(phase+": half-rate latency", "p50", hr.Latency.P50, "p95", hr.Latency.P95, "p99", hr.Latency.P99)
	}

	for _, p := range pl.procs() {
		if err := p.Stop(); err != nil {
			r.log.Warn("process did not stop cleanly", "proc", p.Name, "err", err)
		}
	}
	// The sinks flushed their indexes when they stopped: what is on disk now
	// holds every event landed.
	if res.DedupEvents, err = r.ch.landed(ctx, pl.db); err != nil {
		return res, err
	}
	for _, p := range pl.sinks {
		n, err := dirBytes(r.sinkDedupDir(p.Name))
		if err != nil {
			return res, err
		}
		res.DedupBytes += n
	}
	paths := []string{}
	for _, p := range pl.procs() {
		paths = append(paths, p.LogPath)
	}
	if prod != nil {
		paths = append(paths, prod.LogPath)
	}
	res.LogWarnings, res.LogErrors = logProblems(paths...)
	return res, nil
}

// landing is what sendAndLand observed.
type landing struct {
	prod    *Proc
	sum     SimulateSummary
	landed  uint64 // rows in the event tables at the end, base included
	markers int64  // latency markers acknowledged by Kafka (they land too)
	unseen  int    // acknowledged markers that never became queryable
	// uncertain markers: their writes failed, yet may have stored them.
	uncertain int
	latency   Quantiles // of the markers: from Kafka's acknowledgement to a row
}

// sendAndLand runs producer simulate with args, with latency markers written
// alongside (prober), then waits until the event tables of pl hold base + the
// events it sent + the markers, logging progress. With profiles, it profiles the
// producer and pl's processes while the producer sends (from 2 s after its
// start until 1 s before its --duration ends, at most 30 s).
func (r *run) sendAndLand(ctx context.Context, name string, pl *pipeline, base uint64, profiles *[]Profile, args ...string) (landing, error) {
	var l landing
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-progress.C:
				if n, err := r.ch.landed(ctx, pl.db); err == nil {
					r.log.Info("sending", "landed", n-min(n, base))
				}
			}
		}
	}()
	pr, err := newProber(r.cluster, pl.topics.Raw, r.cfg.Compression, r.reg, r.ch, pl.db)
	if err != nil {
		close(done)
		return l, err
	}
	probeCtx, stopProbes := context.WithCancel(ctx)
	probed := make(chan struct{})
	go func() { defer close(probed); pr.run(probeCtx, 0) }()
	defer func() { stopProbes(); <-probed }()

	prod, err := r.startSimulate(ctx, name, pl.topics, args...)
	l.prod = prod
	if err != nil {
		close(done)
		return l, err
	}
	captured := make(chan struct{})
	if profiles == nil {
		close(captured)
	} else {
		go func() {
			defer close(captured)
			select {
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
				return
			}
			d := min(30*time.Second, max(time.Second, r.cfg.Duration-3*time.Second))
			r.log.Info("profiling", "seconds", d.Seconds(), "into", r.procs.dir)
			*profiles = captureProfiles(ctx, r.procs.dir, d, append([]*Proc{prod}, pl.procs()...)...)
		}()
	}
	sum, err := r.awaitSimulate(ctx, prod)
	l.sum = sum
	// No marker after the load: the rest of the wait measures the backlog.
	stopProbes()
	<-probed
	close(done)
	<-captured
	if err != nil {
		return l, err
	}
	l.markers = pr.acked()
	want := base + uint64(sum.Sent) + uint64(l.markers)
	lastLog := time.Now()
	err = poll(ctx, 100*time.Millisecond, max(3*time.Minute, 2*r.cfg.Duration), "every sent event to be queryable", func() (bool, error) {
		for _, p := range pl.procs() {
			if done, _ := p.Exited(); done {
				return false, p.exitedErr()
			}
		}
		pr.poll(ctx) // markers landing during the drain
		n, err := r.ch.landed(ctx, pl.db)
		if err != nil {
			return false, nil
		}
		l.landed = n
		if time.Since(lastLog) > 5*time.Second {
			r.log.Info("draining", "landed", n-min(n, base), "of", uint64(sum.Sent)+uint64(l.markers))
			lastLog = time.Now()
		}
		return n >= want, nil
	})
	pr.poll(ctx)
	l.latency, l.unseen, l.uncertain = pr.quantiles()
	if err != nil {
		return l, fmt.Errorf("%w (%d of %d events landed)", err, l.landed-min(l.landed, base), uint64(sum.Sent)+uint64(l.markers))
	}
	return l, nil
}

// scrapeAll scrapes every enricher and every sink of pl and merges each kind.
func (r *run) scrapeAll(ctx context.Context, pl *pipeline) (enrichers, sinks Metrics, err error) {
	merge := func(ps []*Proc) (Metrics, error) {
		var all Metrics
		for _, p := range ps {
			m, err := scrape(ctx, p.MetricsAddr)
			if err != nil {
				return nil, err
			}
			all = mergeMetrics(all, m)
		}
		return all, nil
	}
	if enrichers, err = merge(pl.enrichers); err != nil {
		return nil, nil, err
	}
	sinks, err = merge(pl.sinks)
	return enrichers, sinks, err
}

// zeroLoss says whether every event acknowledged by Kafka (want, markers
// included) landed exactly once: nothing failed, every acknowledged marker
// was seen, and the rows, all distinct, are want plus at most the markers
// whose writes failed but which Kafka may have stored all the same.
func zeroLoss(failed int64, unseen, uncertain int, want, landed, distinct uint64) bool {
	return failed == 0 && unseen == 0 && landed >= want && landed <= want+uint64(uncertain) && distinct == landed
}

// pipelineCPU is the CPU seconds pl's enrichers and sinks and the services
// have used so far.
func (r *run) pipelineCPU(pl *pipeline, svc map[string][]int) float64 {
	var total float64
	for _, p := range pl.procs() {
		total += p.Usage().CPU
	}
	for _, c := range serviceCPU(svc) {
		total += c
	}
	return total
}
