package bench

import (
	"math"
	"strings"
	"testing"
)

// Two series of one histogram (as two sinks would report it, here by label),
// plus a counter and a gauge.
const metricsPage = `# HELP veil_sink_event_to_queryable_seconds Per record latency.
# TYPE veil_sink_event_to_queryable_seconds histogram
veil_sink_event_to_queryable_seconds_bucket{instance="a",le="0.1"} 6
veil_sink_event_to_queryable_seconds_bucket{instance="a",le="0.5"} 40
veil_sink_event_to_queryable_seconds_bucket{instance="a",le="1"} 60
veil_sink_event_to_queryable_seconds_bucket{instance="a",le="+Inf"} 66
veil_sink_event_to_queryable_seconds_sum{instance="a"} 30
veil_sink_event_to_queryable_seconds_count{instance="a"} 66
veil_sink_event_to_queryable_seconds_bucket{instance="b",le="0.1"} 4
veil_sink_event_to_queryable_seconds_bucket{instance="b",le="0.5"} 20
veil_sink_event_to_queryable_seconds_bucket{instance="b",le="1"} 30
veil_sink_event_to_queryable_seconds_bucket{instance="b",le="+Inf"} 34
veil_sink_event_to_queryable_seconds_sum{instance="b"} 20
veil_sink_event_to_queryable_seconds_count{instance="b"} 34
# TYPE veil_enricher_records_total counter
veil_enricher_records_total{outcome="clean",reason=""} 950
veil_enricher_records_total{outcome="deadletter",reason="malformed"} 30
veil_enricher_records_total{outcome="dropped",reason="opted-out:playback"} 20
# TYPE veil_sink_consumer_lag gauge
veil_sink_consumer_lag{partition="0"} 5
veil_sink_consumer_lag{partition="1"} 7
`

func parsed(t *testing.T) Metrics {
	t.Helper()
	m, err := ParseMetrics(strings.NewReader(metricsPage))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHistogramAddsUpTheSeriesBucketByBucket(t *testing.T) {
	h, ok := parsed(t).Histogram("veil_sink_event_to_queryable_seconds")
	if !ok {
		t.Fatal("histogram not found")
	}
	want := []Bucket{{0.1, 10}, {0.5, 60}, {1, 90}, {math.Inf(1), 100}}
	if len(h.Buckets) != len(want) {
		t.Fatalf("buckets %v, want %v", h.Buckets, want)
	}
	for i, b := range want {
		if h.Buckets[i] != b {
			t.Errorf("bucket %d = %v, want %v", i, h.Buckets[i], b)
		}
	}
	if h.Count != 100 || h.Sum != 50 {
		t.Errorf("count %v sum %v, want 100 and 50", h.Count, h.Sum)
	}
	if _, ok := parsed(t).Histogram("veil_enricher_records_total"); ok {
		t.Error("a counter was taken for a histogram")
	}
}

func TestQuantileInterpolatesInsideTheBucketLikeHistogramQuantile(t *testing.T) {
	h, _ := parsed(t).Histogram("veil_sink_event_to_queryable_seconds")
	// Cumulative: ≤0.1: 10, ≤0.5: 60, ≤1: 90, +Inf: 100.
	tests := []struct {
		name string
		q    float64
		want float64
	}{
		{"the lowest bucket starts at zero", 0.05, 0.05},             // rank 5 of 10 in [0, 0.1]
		{"the rank is the upper edge of a bucket", 0.1, 0.1},         // rank 10 = all of the first bucket
		{"the median lies in the second bucket", 0.5, 0.42},          // 0.1 + 0.4 × 40/50
		{"p90 is the top of the third bucket", 0.9, 1},               // 0.5 + 0.5 × 30/30
		{"a rank in +Inf returns the highest finite bound", 0.99, 1}, // no interpolation into +Inf
		{"q = 0 is the start of the first non-empty rank", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.Quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
	if got := h.Quantile(-0.1); !math.IsInf(got, -1) {
		t.Errorf("Quantile(-0.1) = %v, want -Inf", got)
	}
	if got := h.Quantile(1.1); !math.IsInf(got, 1) {
		t.Errorf("Quantile(1.1) = %v, want +Inf", got)
	}
}

func TestQuantilesSayWhichBucketThePercentileCameFrom(t *testing.T) {
	h, _ := parsed(t).Histogram("veil_sink_event_to_queryable_seconds")
	q := h.Quantiles()
	if math.Abs(q.P50-0.42) > 1e-9 || q.P99 != 1 || q.Count != 100 {
		t.Errorf("Quantiles = %+v", q)
	}
	// Rank 99 of 100 lies beyond the last finite bound.
	if q.P99Bucket != [2]float64{1, 1} {
		t.Errorf("p99 bucket = %v, want [1 1] (the +Inf bucket)", q.P99Bucket)
	}
	if lo, hi := h.bucketOf(0.5); lo != 0.1 || hi != 0.5 {
		t.Errorf("median bucket = %v–%v, want 0.1–0.5", lo, hi)
	}
	if lo, hi := h.bucketOf(0.05); lo != 0 || hi != 0.1 {
		t.Errorf("p5 bucket = %v–%v, want 0–0.1", lo, hi)
	}
}

func TestQuantileOfAnEmptyHistogramIsNaNAndQuantilesAreZero(t *testing.T) {
	h := Histogram{Buckets: []Bucket{{1, 0}, {math.Inf(1), 0}}}
	if got := h.Quantile(0.5); !math.IsNaN(got) {
		t.Errorf("Quantile of nothing = %v, want NaN", got)
	}
	if q := h.Quantiles(); q != (Quantiles{}) {
		t.Errorf("Quantiles of nothing = %+v, want zeros (JSON has no NaN)", q)
	}
	if got := (Histogram{}).Quantile(0.5); !math.IsNaN(got) {
		t.Errorf("Quantile without buckets = %v, want NaN", got)
	}
}

func TestSubKeepsOnlyTheObservationsBetweenTwoScrapes(t *testing.T) {
	before := Histogram{Count: 100, Sum: 50, Buckets: []Bucket{{0.1, 10}, {0.5, 60}, {1, 90}, {math.Inf(1), 100}}}
	// 50 more observations, all above 1s: a slow phase after a fast one.
	after := Histogram{Count: 150, Sum: 350, Buckets: []Bucket{{0.1, 10}, {0.5, 60}, {1, 90}, {math.Inf(1), 150}}}
	d := after.Sub(before)
	if d.Count != 50 || d.Sum != 300 {
		t.Errorf("difference count %v sum %v, want 50 and 300", d.Count, d.Sum)
	}
	for _, b := range d.Buckets[:3] {
		if b.Count != 0 {
			t.Errorf("bucket le=%v has %v observations in between, want 0", b.UpperBound, b.Count)
		}
	}
	// Every new observation is above 1s: the whole-life p50 hides it, the difference does not.
	if got := after.Quantile(0.5); got >= 1 {
		t.Fatalf("whole-life p50 = %v, expected below 1 for this test to mean anything", got)
	}
	if got := d.Quantile(0.5); got != 1 {
		t.Errorf("p50 of the difference = %v, want 1 (the highest finite bound)", got)
	}
}

func TestHistogramWithoutAnInfBucketGetsOneFromTheCount(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(`# TYPE h histogram
h_bucket{le="1"} 3
h_bucket{le="2"} 4
h_sum 5
h_count 8
`))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := m.Histogram("h")
	last := h.Buckets[len(h.Buckets)-1]
	if !math.IsInf(last.UpperBound, 1) || last.Count != 8 {
		t.Errorf("last bucket %v, want +Inf with the count 8", last)
	}
}

func TestSumAddsTheMatchingSeries(t *testing.T) {
	m := parsed(t)
	tests := []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"every outcome", nil, 1000},
		{"clean only", map[string]string{"outcome": "clean"}, 950},
		{"a label value no series has", map[string]string{"outcome": "lost"}, 0},
	}
	for _, tt := range tests {
		if got := m.Sum("veil_enricher_records_total", tt.match); got != tt.want {
			t.Errorf("%s: Sum = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := m.Sum("veil_sink_consumer_lag", nil); got != 12 {
		t.Errorf("gauge Sum = %v, want 12", got)
	}
	if got := m.Sum("no_such_metric", nil); got != 0 {
		t.Errorf("missing metric sums to %v, want 0", got)
	}
}

func TestMergeMetricsAddsUpInstances(t *testing.T) {
	a, b := parsed(t), parsed(t)
	all := mergeMetrics(mergeMetrics(nil, a), b)
	if got := all.Sum("veil_enricher_records_total", map[string]string{"outcome": "clean"}); got != 1900 {
		t.Errorf("clean over two instances = %v, want 1900", got)
	}
	h, _ := all.Histogram("veil_sink_event_to_queryable_seconds")
	if h.Count != 200 {
		t.Errorf("histogram count over two instances = %v, want 200", h.Count)
	}
}

func TestParseMetricsRejectsGarbage(t *testing.T) {
	if _, err := ParseMetrics(strings.NewReader("this is { not metrics\n")); err == nil {
		t.Error("want an error")
	}
}

func TestMedianOfRounds(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{9, 1, 5}, 5}, // odd: the middle one, whatever the order
		{[]float64{4000, 2000, 2600, 2400}, 2500}, // even: between the two middle ones
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
