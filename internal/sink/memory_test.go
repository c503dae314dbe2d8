package sink

import "testing"

func TestMemoryLimitGrowsWithTheBatchAndTheDedupMemory(t *testing.T) {
	cfg := func(records, dedupMiB int) Config {
		var c Config
		c.Batch.MaxRecords, c.Dedup.MemoryMiB = records, dedupMiB
		return c
	}
	for _, tc := range []struct {
		records, dedupMiB int
		want              int64
	}{
		{25000, 16, 160 << 20},
		{5000, 4, 160 << 20}, // smaller settings keep the floor
		{50000, 16, 160<<20 + 25000*4<<10},
		{25000, 32, 160<<20 + 24<<20},
		{50000, 32, 160<<20 + 25000*4<<10 + 24<<20},
	} {
		if got := MemoryLimit(cfg(tc.records, tc.dedupMiB)); got != tc.want {
			t.Errorf("MemoryLimit(--batch-records %d, --dedup-memory %d) = %d MiB, want %d MiB", tc.records, tc.dedupMiB, got>>20, tc.want>>20)
		}
	}
}
