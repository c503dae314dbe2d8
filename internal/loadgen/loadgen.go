// Package loadgen loads a collector (`producer serve`) the way a fleet would:
// N clients post batches of simulated events to POST /v1/events for a bounded time
// or number of requests, then it reports accepted events per second, request
// latency percentiles, the status codes seen and the collector's resident memory.
// It always stops by itself. `producer loadgen` runs it; scripts/bench calls that.
//
// Bodies are made before the run (so that the generator's own CPU does not compete
// with the collector's) and every request gets fresh event ids written into them,
// so no two posted events share an id.
package loadgen

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/veiltelemetry/veil/internal/config"
	"github.com/veiltelemetry/veil/internal/jsonevent"
	"github.com/veiltelemetry/veil/internal/simulate"
	"github.com/veiltelemetry/veil/internal/stream"
)

// Config of a load run.
type Config struct {
	URL           string        // --url of the collector, default http://127.0.0.1:8080
	Token         string        // the bearer token, a relay's (batches name many installations); default from --token-file or VEIL_TOKEN
	Clients       int           // --clients posting concurrently, default 8
	Batch         int           // --batch: events per request, default 500
	Duration      time.Duration // --duration of the run, default 10s (0: until --requests)
	Requests      int           // --requests: stop after this many (0: until --duration)
	Gzip          bool          // --gzip the bodies
	Installations int           // --installations in the simulated fleet, default 2000
	Seed          uint64        // --seed, default 1
	Pool          int           // --pool: distinct bodies made per client before the run, default 8
	Timeout       time.Duration // --timeout of one request, default 30s
	PID           int           // --pid of the collector, to read its RSS from /proc (0: from its /metrics)

	tokenSecret config.Secret // --token-file, or VEIL_TOKEN
}

// Register adds the flags to fs.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "base URL of the collector")
	config.SecretVar(fs, &c.tokenSecret, "token-file", "VEIL_TOKEN", "file holding a relay's bearer token the collector accepts")
	fs.IntVar(&c.Clients, "clients", 8, "clients posting concurrently")
	fs.IntVar(&c.Batch, "batch", 500, "events per request")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "length of the run (0: until --requests)")
	fs.IntVar(&c.Requests, "requests", 0, "stop after this many requests (0: until --duration)")
	fs.BoolVar(&c.Gzip, "gzip", false, "gzip the request bodies")
	fs.IntVar(&c.Installations, "installations", 2000, "installations in the simulated fleet")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed of the simulated fleet")
	fs.IntVar(&c.Pool, "pool", 8, "distinct bodies made per client before the run")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "timeout of one request")
	fs.IntVar(&c.PID, "pid", 0, "pid of the collector, to read its RSS from /proc (0: read it from its /metrics)")
}

// token is Token, or the one of --token-file or VEIL_TOKEN.
func (c *Config) token() string {
	if c.Token != "" {
		return c.Token
	}
	return c.tokenSecret.Value()
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	switch {
	case !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://"):
		return fmt.Errorf("--url: want http:// or https://, got %q", c.URL)
	case c.token() == "":
		return fmt.Errorf("a relay's token is required: --token-file or VEIL_TOKEN")
	case c.Clients <= 0 || c.Batch <= 0 || c.Pool <= 0 || c.Installations <= 0:
		return fmt.Errorf("--clients, --batch, --pool and --installations must be positive")
	case c.Duration < 0 || c.Requests < 0:
		return fmt.Errorf("--duration and --requests must not be negative")
	case c.Duration == 0 && c.Requests == 0:
		return fmt.Errorf("--duration or --requests must bound the run")
	case c.Timeout <= 0:
		return fmt.Errorf("--timeout must be positive")
	}
	return nil
}

// Report of a run.
type Report struct {
	Requests  int
	Errors    int         // requests without an HTTP answer
	Statuses  map[int]int // HTTP status → requests
	Sent      int64       // events posted
	Accepted  int64       // events the collector reported accepted (202 answers)
	Rejected  int64       // events it reported rejected
	Elapsed   time.Duration
	Latencies []time.Duration // of the answered requests, sorted
	RSS       int64           // collector's resident memory at the end, bytes (0: unknown)
	PeakRSS   int64           // highest seen during the run
}

// Rate is the accepted events per second.
func (r Report) Rate() float64 { return float64(r.Accepted) / max(r.Elapsed.Seconds(), 1e-9) }

// Percentile returns the p-th percentile (0-100) of the request latencies.
func (r Report) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies)-1) * p / 100)
	return r.Latencies[i]
}

func (r Report) String() string {
	var b strings.Builder
	codes := make([]int, 0, len(r.Statuses))
	for c := range r.Statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var st []string
	for _, c := range codes {
		st = append(st, fmt.Sprintf("%d=%d", c, r.Statuses[c]))
	}
	if r.Errors > 0 {
		st = append(st, fmt.Sprintf("errors=%d", r.Errors))
	}
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) }
	fmt.Fprintf(&b, "requests %d in %.1fs; events sent %d, accepted %d (%.0f/s), rejected %d\n",
		r.Requests, r.Elapsed.Seconds(), r.Sent, r.Accepted, r.Rate(), r.Rejected)
	fmt.Fprintf(&b, "latency p50 %sms p99 %sms max %sms\n", ms(r.Percentile(50)), ms(r.Percentile(99)), ms(r.Percentile(100)))
	fmt.Fprintf(&b, "status %s\n", strings.Join(st, " "))
	if r.RSS > 0 {
		fmt.Fprintf(&b, "collector rss %.1f MiB (peak seen %.1f MiB)\n", float64(r.RSS)/(1<<20), float64(r.PeakRSS)/(1<<20))
	}
	fmt.Fprintf(&b, "summary accepted_per_s=%.0f p50_ms=%s p99_ms=%s requests=%d accepted=%d rejected=%d errors=%d status=%s rss_mib=%.1f peak_rss_mib=%.1f",
		r.Rate(), ms(r.Percentile(50)), ms(r.Percentile(99)), r.Requests, r.Accepted, r.Rejected, r.Errors, strings.Join(st, ","),
		float64(r.RSS)/(1<<20), float64(r.PeakRSS)/(1<<20))
	return b.String()
}

// body is a prepared request body with the offsets of its event ids.
type body struct {
	json []byte
	ids  []int // offset of each 36-byte event id
}

// Run posts until the duration or request count is reached or ctx is done, then
// waits for the requests in flight (each bounded by --timeout) and returns the
// report. It fails when the configuration is bad, when no request got an answer,
// or when ctx ended first: then the requests in flight get stream.DrainTimeout to
// be answered, and the report covers the run so far.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	pools := make([][]body, cfg.Clients)
	for c := range pools {
		f := simulate.NewFleet(simulate.Config{Installations: cfg.Installations, Seed: cfg.Seed + uint64(c)*7919})
		for range cfg.Pool {
			if ctx.Err() != nil {
				return Report{}, fmt.Errorf("loadgen: %w while making the request bodies", context.Cause(ctx))
			}
			b, err := makeBody(f, cfg.Batch)
			if err != nil {
				return Report{}, err
			}
			pools[c] = append(pools[c], b)
		}
	}
	// Requests end with the drain of an interruption, not with --duration: a
	// request started before the end of the run is answered and counted.
	interrupt := ctx
	reqCtx, cancelRequests := stream.DrainContext(interrupt)
	defer cancelRequests()
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	client := &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Clients, MaxConnsPerHost: cfg.Clients}}
	url := strings.TrimRight(cfg.URL, "/")

	var (
		mu      sync.Mutex
		rep     = Report{Statuses: map[int]int{}}
		started int
	)
	claim := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil || (cfg.Requests > 0 && started >= cfg.Requests) {
			return false
		}
		started++
		return true
	}
	rss := newRSSWatcher(reqCtx, cfg, url)
	stopRSS := rss.watch()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < cfg.Clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, len(pools[c][0].json)+1024)
			for n := 0; claim(); n++ {
				b := pools[c][n%len(pools[c])]
				buf = append(buf[:0], b.json...)
				for _, off := range b.ids {
					u := uuid.New()
					copy(buf[off:off+36], u.String())
				}
				payload := buf
				if cfg.Gzip {
					payload = gzipped(buf)
				}
				t0 := time.Now()
				status, res, retryAfter, err := post(reqCtx, client, url, cfg.token(), payload, cfg.Gzip)
				lat := time.Since(t0)
				mu.Lock()
				rep.Requests++
				rep.Sent += int64(len(b.ids))
				if err != nil {
					rep.Errors++
				} else {
					rep.Statuses[status]++
					rep.Latencies = append(rep.Latencies, lat)
					rep.Rejected += int64(res.Rejected)
					if status == http.StatusAccepted {
						rep.Accepted += int64(res.Accepted)
					}
				}
				mu.Unlock()
				if status == http.StatusServiceUnavailable && retryAfter > 0 {
					select { // obey Retry-After, but not past the end of the run
					case <-ctx.Done():
					case <-time.After(retryAfter):
					}
				}
				if err != nil {
					select {
					case <-ctx.Done():
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		}()
	}
	if progress != nil {
		go reportProgress(ctx, progress, &mu, &rep, start)
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	stopRSS()
	rep.RSS, rep.PeakRSS = rss.last, rss.peak
	slices.Sort(rep.Latencies)
	if interrupt.Err() != nil {
		return rep, fmt.Errorf("loadgen: %w after %.1fs: the report covers the run so far", context.Cause(interrupt), rep.Elapsed.Seconds())
	}
	if rep.Requests > 0 && rep.Errors == rep.Requests {
		return rep, fmt.Errorf("loadgen: none of %d requests to %s got an answer", rep.Requests, url)
	}
	return rep, nil
}

// makeBody builds one JSON batch from the fleet and finds its event ids.
func makeBody(f *simulate.Fleet, n int) (body, error) {
	evs := make([]map[string]any, n)
	for i := range evs {
		kind, rec, err := f.Next()
		if err != nil {
			return body{}, err
		}
		rec["event_id"] = uuid.NewString()
		evs[i] = jsonevent.Event(kind, rec)
	}
	js, err := json.Marshal(map[string]any{"events": evs})
	if err != nil {
		return body{}, err
	}
	b := body{json: js, ids: jsonevent.IDOffsets(js)}
	if len(b.ids) != n {
		return body{}, fmt.Errorf("loadgen: found %d event ids in a batch of %d", len(b.ids), n)
	}
	return b, nil
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

type answer struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
}

func post(ctx context.Context, c *http.Client, url, token string, payload []byte, gz bool) (int, answer, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/events", bytes.NewReader(payload))
	if err != nil {
		return 0, answer{}, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", jsonevent.ContentType)
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, answer{}, 0, err
	}
	defer resp.Body.Close()
	var a answer
	_ = json.NewDecoder(resp.Body).Decode(&a)
	_, _ = io.Copy(io.Discard, resp.Body)
	var retry time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		retry = time.Duration(s) * time.Second
	}
	return resp.StatusCode, a, retry, nil
}

func reportProgress(ctx context.Context, out io.Writer, mu *sync.Mutex, rep *Report, start time.Time) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			mu.Lock()
			fmt.Fprintf(out, "loadgen: %d requests, %d events accepted (%.0f/s), statuses %v\n",
				rep.Requests, rep.Accepted, float64(rep.Accepted)/time.Since(start).Seconds(), rep.Statuses)
			mu.Unlock()
		}
	}
}

// rssWatcher samples the collector's resident memory twice a second.
type rssWatcher struct {
	read       func() (int64, error)
	last, peak int64
}

func newRSSWatcher(ctx context.Context, cfg Config, url string) *rssWatcher {
	w := &rssWatcher{}
	c := &http.Client{Timeout: 2 * time.Second}
	if cfg.PID > 0 {
		w.read = func() (int64, error) { return procRSS(cfg.PID) }
	} else {
		w.read = func() (int64, error) { return metricsRSS(ctx, c, url) }
	}
	return w
}

func (w *rssWatcher) watch() (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := func() {
		if n, err := w.read(); err == nil && n > 0 {
			w.last, w.peak = n, max(w.peak, n)
		}
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-done:
				sample()
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// procRSS reads VmRSS of a process, in bytes.
func procRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS line")
}

// metricsRSS reads process_resident_memory_bytes from the collector's /metrics.
func metricsRSS(ctx context.Context, c *http.Client, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return int64(v), err
		}
	}
	return 0, errors.New("no process_resident_memory_bytes in /metrics")
}
