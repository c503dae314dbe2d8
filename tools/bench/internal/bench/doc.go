// Package bench measures the pipeline against baselines taken in the same run, on
// the same broker and server: what kafka-go, goavro and clickhouse-go do on their
// own with the pipeline's settings, and the sink's dedup index against the
// in-memory window it replaced (CPU per event, disk per million ids), then each
// real binary alone on a filled topic,
// then the whole pipeline end to end (throughput, zero loss, event-to-queryable
// latency at full and at half rate, peak RSS and CPU of each process, consumer
// lag, the sinks' dedup indexes on disk per million events),
// optionally the HTTP collector under load and a two-instance scale run.
//
// Every run is isolated: its own topics (a prefix per run), consumer groups, key
// directory and ClickHouse databases, deleted at the end unless Config.Keep. The
// binaries are started as subprocesses with their own metrics addresses; every
// process the bench starts is stopped when it returns, also on Ctrl-C (SIGTERM,
// then SIGKILL after 10s). Results are one aligned text table and a JSON file.
//
// A phase that fails is recorded in the results and the others still run; Run then
// returns an error, so scripts/bench exits non-zero. Nothing here is a pass/fail
// test of the pipeline: targets are reported as met or not, for people to read.
package bench
