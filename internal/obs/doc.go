// Package obs serves what operators look at: Prometheus metrics on /metrics,
// liveness on /healthz and readiness on /readyz (ready only when every check
// passes, e.g. Kafka and ClickHouse answer), and, on a separate address when asked
// for, the Go runtime's profiles.
package obs
