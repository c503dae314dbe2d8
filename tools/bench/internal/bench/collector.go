package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// loadgen settings: the defaults of producer loadgen, stated so the run says what it did.
const (
	loadgenClients = 8
	loadgenBatch   = 500
)

// collector runs producer serve on fresh topics with a random relay token (the
// simulated batches name many installations), loads it with producer loadgen for
// --collector-duration, and reads loadgen's summary. The token reaches both
// through the environment (VEIL_TOKENS, VEIL_TOKEN), never the command line.
func (r *run) collector(ctx context.Context) (*CollectorLoad, error) {
	t, err := r.topicSet(ctx, "collector")
	if err != nil {
		return nil, err
	}
	token := randomToken(24)
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	r.log.Info("collector: producer serve", "listen", addr, "topic", t.Raw)
	args := append(append([]string{"serve"}, r.kafkaArgs(t)...), "--listen", addr)
	serve, err := r.procs.start(ctx, "collector-serve", "producer", []string{"VEIL_TOKENS=bench:relay:" + token}, args...)
	if err != nil {
		return nil, err
	}
	defer serve.Stop()
	if err := waitReady(ctx, serve, addr, time.Minute); err != nil {
		return nil, err
	}

	r.log.Info("collector: producer loadgen", "clients", loadgenClients, "batch", loadgenBatch, "duration", r.cfg.CollectorDuration)
	lg, err := r.procs.start(ctx, "collector-loadgen", "producer", []string{"VEIL_TOKEN=" + token},
		"loadgen", "--url", "http://"+addr, "--clients", strconv.Itoa(loadgenClients), "--batch", strconv.Itoa(loadgenBatch),
		"--duration", r.cfg.CollectorDuration.String(), "--pid", strconv.Itoa(serve.PID()))
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.CollectorDuration+2*time.Minute)
	defer cancel()
	werr := lg.Wait(wctx)
	out, _ := lg.Output()
	c, err := parseLoadgen(out)
	if werr != nil {
		return nil, fmt.Errorf("producer loadgen: %w; last lines of %s:\n%s", werr, lg.LogPath, lg.Tail(8))
	}
	if err != nil {
		return nil, err
	}
	u := serve.Usage()
	c.PeakRSS = max(c.PeakRSS, u.PeakRSS)
	c.CPU = u.CPU
	r.log.Info("collector: done", "accepted_per_second", int(c.PerSec), "p99_ms", c.P99ms)
	return &c, nil
}
