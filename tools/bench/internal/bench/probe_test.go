package bench

import "testing"

func TestSampleQuantilesAreNearestRank(t *testing.T) {
	xs := make([]float64, 200)
	for i := range xs {
		xs[len(xs)-1-i] = float64(i+1) / 100 // 0.01 .. 2.00, unsorted
	}
	q := sampleQuantiles(xs)
	if q.Count != 200 || q.P50 != 1.00 || q.P95 != 1.90 || q.P99 != 1.98 {
		t.Errorf("quantiles = %+v, want count 200, p50 1.00, p95 1.90, p99 1.98", q)
	}
	if q.P99Bucket[0] != q.P99 || q.P99Bucket[1] <= q.P99 {
		t.Errorf("p99 bounds %v: want [p99, p99 + one poll]", q.P99Bucket)
	}
	if (sampleQuantiles(nil) != Quantiles{}) {
		t.Error("an empty sample has quantiles")
	}
	if xs[0] != 2.00 {
		t.Error("sampleQuantiles sorted its input")
	}
}
