package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics are the metric families of one /metrics page.
type Metrics map[string]*dto.MetricFamily

// ParseMetrics reads the Prometheus text format.
func ParseMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return Metrics(fams), nil
}

// scrape fetches and parses http://addr/metrics.
func scrape(ctx context.Context, addr string) (Metrics, error) {
	body, err := fetch(ctx, "http://"+addr+"/metrics")
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	return ParseMetrics(bytes.NewReader(body))
}

// Sum adds up every series of a counter, gauge or untyped metric whose labels
// include all of match (nil: every series). A missing metric sums to 0.
func (m Metrics) Sum(name string, match map[string]string) float64 {
	fam := m[name]
	if fam == nil {
		return 0
	}
	var sum float64
	for _, s := range fam.GetMetric() {
		if !hasLabels(s, match) {
			continue
		}
		switch {
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Gauge != nil:
			sum += s.Gauge.GetValue()
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		}
	}
	return sum
}

func hasLabels(s *dto.Metric, match map[string]string) bool {
	for k, v := range match {
		found := false
		for _, l := range s.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// mergeMetrics puts the series of b next to those of a, family by family, so
// that Sum and Histogram add up every instance.
func mergeMetrics(a, b Metrics) Metrics {
	if a == nil {
		a = Metrics{}
	}
	for name, fam := range b {
		if have, ok := a[name]; ok {
			have.Metric = append(have.Metric, fam.Metric...)
			continue
		}
		a[name] = fam
	}
	return a
}

// Bucket of a histogram: how many observations were at most UpperBound.
type Bucket struct {
	UpperBound float64 `json:"le"`
	Count      float64 `json:"count"` // cumulative
}

// Histogram is a Prometheus histogram with cumulative buckets ending in +Inf.
type Histogram struct {
	Buckets []Bucket `json:"buckets"`
	Count   float64  `json:"count"`
	Sum     float64  `json:"sum"`
}

// Histogram returns the named histogram, every series added up bucket by bucket
// (the series must share their bucket bounds, as one metric's series do). ok is
// false when the page has no such histogram.
func (m Metrics) Histogram(name string) (h Histogram, ok bool) {
	fam := m[name]
	if fam == nil || fam.GetType() != dto.MetricType_HISTOGRAM {
		return Histogram{}, false
	}
	byBound := map[float64]float64{}
	for _, s := range fam.GetMetric() {
		hs := s.GetHistogram()
		if hs == nil {
			continue
		}
		ok = true
		h.Count += float64(hs.GetSampleCount())
		h.Sum += hs.GetSampleSum()
		for _, b := range hs.GetBucket() {
			byBound[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	for le, c := range byBound {
		h.Buckets = append(h.Buckets, Bucket{UpperBound: le, Count: c})
	}
	sort.Slice(h.Buckets, func(i, j int) bool { return h.Buckets[i].UpperBound < h.Buckets[j].UpperBound })
	if n := len(h.Buckets); n == 0 || !math.IsInf(h.Buckets[n-1].UpperBound, 1) {
		h.Buckets = append(h.Buckets, Bucket{UpperBound: math.Inf(1), Count: h.Count})
	}
	return h, ok
}

// Sub returns the observations made between prev and h: bucket counts, count and
// sum subtracted. Buckets of h that prev lacks are taken as they are.
func (h Histogram) Sub(prev Histogram) Histogram {
	before := map[float64]float64{}
	for _, b := range prev.Buckets {
		before[b.UpperBound] = b.Count
	}
	out := Histogram{Count: h.Count - prev.Count, Sum: h.Sum - prev.Sum}
	for _, b := range h.Buckets {
		out.Buckets = append(out.Buckets, Bucket{UpperBound: b.UpperBound, Count: b.Count - before[b.UpperBound]})
	}
	return out
}

// Quantile estimates the q-quantile (0 ≤ q ≤ 1) the way PromQL's
// histogram_quantile does: find the bucket holding the rank q·count and
// interpolate linearly inside it, the lowest bucket starting at 0 (when its bound
// is positive). A rank in the +Inf bucket returns the highest finite bound. With
// no observations the result is NaN.
func (h Histogram) Quantile(q float64) float64 {
	switch {
	case math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(1)
	}
	b := h.Buckets
	if len(b) < 2 || !math.IsInf(b[len(b)-1].UpperBound, 1) {
		return math.NaN()
	}
	total := b[len(b)-1].Count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	i := sort.Search(len(b)-1, func(i int) bool { return b[i].Count >= rank })
	if i == len(b)-1 {
		return b[len(b)-2].UpperBound
	}
	if i == 0 && b[0].UpperBound <= 0 {
		return b[0].UpperBound
	}
	start, end := 0.0, b[i].UpperBound
	count := b[i].Count
	if i > 0 {
		start = b[i-1].UpperBound
		count -= b[i-1].Count
		rank -= b[i-1].Count
	}
	if count <= 0 {
		return end
	}
	return start + (end-start)*(rank/count)
}

// Quantiles are latency estimates in seconds.
type Quantiles struct {
	P50   float64 `json:"p50_seconds"`
	P95   float64 `json:"p95_seconds"`
	P99   float64 `json:"p99_seconds"`
	Count float64 `json:"observations"`
	// P99Bucket is the bucket the p99 was interpolated in: the estimate is only
	// known to lie between these bounds.
	P99Bucket [2]float64 `json:"p99_bucket_seconds"`
}

// bucketOf returns the bounds of the bucket holding the q-quantile's rank (the
// +Inf bucket is reported as starting and ending at the highest finite bound).
func (h Histogram) bucketOf(q float64) (lo, hi float64) {
	b := h.Buckets
	if len(b) < 2 || b[len(b)-1].Count <= 0 {
		return 0, 0
	}
	rank := q * b[len(b)-1].Count
	i := sort.Search(len(b)-1, func(i int) bool { return b[i].Count >= rank })
	if i == len(b)-1 {
		return b[i-1].UpperBound, b[i-1].UpperBound
	}
	if i > 0 {
		lo = b[i-1].UpperBound
	}
	return lo, b[i].UpperBound
}

// Quantiles returns p50, p95 and p99 of h; all zero when h has no observations
// (JSON has no NaN).
func (h Histogram) Quantiles() Quantiles {
	finite := func(x float64) float64 {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0
		}
		return x
	}
	lo, hi := h.bucketOf(0.99)
	return Quantiles{P50: finite(h.Quantile(0.5)), P95: finite(h.Quantile(0.95)), P99: finite(h.Quantile(0.99)), Count: h.Count,
		P99Bucket: [2]float64{lo, hi}}
}
