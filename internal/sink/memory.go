package sink

// MemoryLimit is the soft memory limit `sink run` gives the Go runtime
// (runtime/debug.SetMemoryLimit) unless the environment sets GOMEMLIMIT:
// 160 MiB for the default batch of 25,000 records and 16 MiB of dedup memory,
// plus 4 KiB per record of a larger batch and 1.5 MiB per MiB of a larger
// dedup memory (Pebble's memtables and block cache live on the Go heap in
// binaries built without cgo, as the image and scripts/bench build them).
//
// A soft limit makes the collector run earlier when the heap nears it,
// instead of letting a full-rate sink's heap grow to GOGC's target over its
// largest batch: in 60 s full-rate bench runs the sink peaked at 181 MiB of
// RSS with it against 186-201 MiB without (README, Memory). It is not a cap: a
// heap that needs more gets it, at the cost of more collection, which the
// runtime bounds to about half the CPU. The 4 KiB per record covers what the
// bench measured (batches of 50,000 peaked 54-91 MiB above batches of 25,000 in
// alternated runs: 2.2-3.7 KiB per record). A binary built with cgo keeps
// Pebble's memory outside the limit.
func MemoryLimit(c Config) int64 {
	const (
		base         = 160 << 20
		perRecord    = 4 << 10
		baseRecords  = 25000
		baseDedupMiB = 16
	)
	limit := int64(base)
	if n := c.Batch.MaxRecords - baseRecords; n > 0 {
		limit += int64(n) * perRecord
	}
	if m := c.Dedup.MemoryMiB - baseDedupMiB; m > 0 {
		limit += int64(m) * 3 << 19 // 1.5 MiB each
	}
	return limit
}
