// Package chstore is the ClickHouse side of the sink: versioned migrations embedded
// in the binary, columnar batch inserts with explicit column lists, and the resume
// points that make redelivered Kafka records harmless.
//
// It speaks the native protocol through clickhouse-go v2 and supports ClickHouse
// 18.16 (Debian's package, used in CI) as well as current releases. Migrations are
// templates rendered for the connected server: on servers that have them, enum-like
// columns use LowCardinality(String); elsewhere plain String.
package chstore
