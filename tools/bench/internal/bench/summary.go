package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// summaryLine finds the last line of out that starts with "summary " and returns
// its key=value pairs. producer simulate and producer loadgen both end with one.
func summaryLine(out string) (map[string]string, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		rest, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "summary ")
		if !ok {
			continue
		}
		kv := map[string]string{}
		for _, f := range strings.Fields(rest) {
			k, v, ok := strings.Cut(f, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("summary line %q: %q is not key=value", lines[i], f)
			}
			kv[k] = v
		}
		return kv, nil
	}
	return nil, fmt.Errorf("no summary line in the output (%d bytes)", len(out))
}

// SimulateSummary is the closing line of producer simulate.
type SimulateSummary struct {
	Sent, Failed int64
	Seconds      float64
	Rate         float64
}

// parseSimulate reads "summary sent=… failed=… seconds=… rate=…".
func parseSimulate(out string) (SimulateSummary, error) {
	kv, err := summaryLine(out)
	if err != nil {
		return SimulateSummary{}, fmt.Errorf("producer simulate: %w", err)
	}
	var s SimulateSummary
	var p parser
	s.Sent = p.int(kv, "sent")
	s.Failed = p.int(kv, "failed")
	s.Seconds = p.float(kv, "seconds")
	s.Rate = p.float(kv, "rate")
	if p.err != nil {
		return SimulateSummary{}, fmt.Errorf("producer simulate summary: %w", p.err)
	}
	return s, nil
}

// parseLoadgen reads "summary accepted_per_s=… p50_ms=… p99_ms=… requests=…
// accepted=… rejected=… errors=… status=… rss_mib=… peak_rss_mib=…".
func parseLoadgen(out string) (CollectorLoad, error) {
	kv, err := summaryLine(out)
	if err != nil {
		return CollectorLoad{}, fmt.Errorf("producer loadgen: %w", err)
	}
	var c CollectorLoad
	var p parser
	c.PerSec = p.float(kv, "accepted_per_s")
	c.P50ms = p.float(kv, "p50_ms")
	c.P99ms = p.float(kv, "p99_ms")
	c.Requests = p.int(kv, "requests")
	c.Accepted = p.int(kv, "accepted")
	c.Rejected = p.int(kv, "rejected")
	c.Errors = p.int(kv, "errors")
	c.Status = kv["status"]
	if mb := p.float(kv, "peak_rss_mib"); mb > 0 {
		c.PeakRSS = int64(mb * (1 << 20))
	}
	if p.err != nil {
		return CollectorLoad{}, fmt.Errorf("producer loadgen summary: %w", p.err)
	}
	return c, nil
}

// parser keeps the first error of a series of field conversions.
type parser struct{ err error }

func (p *parser) float(kv map[string]string, k string) float64 {
	v, ok := kv[k]
	if !ok {
		p.fail(fmt.Errorf("no %s", k))
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		p.fail(fmt.Errorf("%s=%q: %w", k, v, err))
	}
	return f
}

func (p *parser) int(kv map[string]string, k string) int64 {
	v, ok := kv[k]
	if !ok {
		p.fail(fmt.Errorf("no %s", k))
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		p.fail(fmt.Errorf("%s=%q: %w", k, v, err))
	}
	return n
}

func (p *parser) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}
