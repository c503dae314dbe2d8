package chstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/veiltelemetry/veil/schemas"
)

// Partition is one month partition of one table, as system.parts reports it.
type Partition struct {
	Table     string // name within the database; a rollup's rows live in its inner table (.inner.<view> on 18.16)
	Partition string // the partition value, e.g. "202401"; what ALTER TABLE ... DROP PARTITION takes
	Month     uint32 // YYYYMM
	Rows      uint64 // rows in the partition's active parts
	Bytes     uint64 // bytes on disk of the partition's active parts
}

// ErrNoMonthlyTables means the database holds no table partitioned by
// toYYYYMM: wrong database, or not migrated yet.
var ErrNoMonthlyTables = errors.New("chstore: no table partitioned by toYYYYMM")

// RetentionCutoff is the oldest month that a retention of months keeps when run
// at now: a month is dropped only once every row in it is more than months
// months old, so with months = 12 in November 2026 the cutoff is 202511 and
// October 2025 is the newest month dropped.
func RetentionCutoff(now time.Time, months int) uint32 {
	first := time.Date(now.UTC().Year(), now.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	return Month(first.AddDate(0, -months, 0))
}

// ExpiredPartitions lists, for every table of the database partitioned by
// toYYYYMM (the event tables and the inner tables of the rollup views alike),
// the active month partitions older than RetentionCutoff(now, months), oldest
// first. It reads system.tables and system.parts and changes nothing.
func (s *Store) ExpiredPartitions(ctx context.Context, months int, now time.Time) ([]Partition, error) {
	if months < 1 {
		return nil, fmt.Errorf("chstore: retention of %d months: must be at least 1", months)
	}
	monthly, err := s.monthlyTables(ctx)
	if err != nil {
		return nil, err
	}
	cutoff := RetentionCutoff(now, months)
	rows, err := s.conn.Query(ctx, `SELECT table, partition, sum(rows), sum(bytes_on_disk)
		FROM system.parts WHERE database = ? AND active
		GROUP BY table, partition ORDER BY partition, table`, s.db)
	if err != nil {
		return nil, fmt.Errorf("chstore: read partitions of %s: %w", s.db, err)
	}
	defer rows.Close()
	var out []Partition
	for rows.Next() {
		var p Partition
		if err := rows.Scan(&p.Table, &p.Partition, &p.Rows, &p.Bytes); err != nil {
			return nil, fmt.Errorf("chstore: read partitions of %s: %w", s.db, err)
		}
		if !monthly[p.Table] {
			continue
		}
		m, err := parseMonth(p.Partition)
		if err != nil {
			return nil, fmt.Errorf("chstore: table %s.%s: partition %q: %w", s.db, p.Table, p.Partition, err)
		}
		if p.Month = m; m < cutoff {
			out = append(out, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("chstore: read partitions of %s: %w", s.db, err)
	}
	return out, nil
}

// monthlyTables returns the names of the database's tables whose partition key
// is toYYYYMM(...). Views hold no parts of their own; their inner tables are
// listed like any other table.
func (s *Store) monthlyTables(ctx context.Context) (map[string]bool, error) {
	rows, err := s.conn.Query(ctx, "SELECT name, partition_key FROM system.tables WHERE database = ?", s.db)
	if err != nil {
		return nil, fmt.Errorf("chstore: list tables of %s: %w", s.db, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name, key string
		if err := rows.Scan(&name, &key); err != nil {
			return nil, fmt.Errorf("chstore: list tables of %s: %w", s.db, err)
		}
		if strings.HasPrefix(strings.ReplaceAll(key, " ", ""), "toYYYYMM(") {
			out[name] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("chstore: list tables of %s: %w", s.db, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w in database %s (wrong database, or not migrated yet?)", ErrNoMonthlyTables, s.db)
	}
	return out, nil
}

// parseMonth accepts a toYYYYMM partition value: six digits, month 01-12.
func parseMonth(p string) (uint32, error) {
	m, err := strconv.ParseUint(p, 10, 32)
	if err != nil || len(p) != 6 || m%100 < 1 || m%100 > 12 {
		return 0, fmt.Errorf("not a YYYYMM month")
	}
	return uint32(m), nil
}

// DropExpired drops every partition ExpiredPartitions lists, one ALTER TABLE
// ... DROP PARTITION each, and returns those it dropped. With dryRun it drops
// nothing and returns what it would drop.
//
// Dropping a partition is immediate and final for analysts; ClickHouse removes
// the files shortly after. A failure stops at that partition and returns what
// was dropped before it with the error; running again finishes the work, since
// the partitions already dropped are no longer listed. A table's rows and its
// rollups' rows of one month go in separate statements, so a query running in
// between may see the table and its rollups disagree about that month.
func (s *Store) DropExpired(ctx context.Context, months int, now time.Time, dryRun bool) ([]Partition, error) {
	parts, err := s.ExpiredPartitions(ctx, months, now)
	if err != nil || dryRun {
		return parts, err
	}
	var done []Partition
	for _, p := range parts {
		q := fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION %d", quoteIdent(s.db), quoteIdent(p.Table), p.Month)
		if err := s.conn.Exec(ctx, q); err != nil {
			return done, fmt.Errorf("chstore: drop partition %s of %s.%s: %w", p.Partition, s.db, p.Table, err)
		}
		done = append(done, p)
	}
	return done, nil
}

// quoteIdent quotes a database or table name with backticks, as the inner
// tables of materialized views (".inner.playback_daily") need.
func quoteIdent(name string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(name) + "`"
}

// Retain is what `sink retention` does: it connects with o, drops the month
// partitions older than months (with dryRun, only lists them) and writes one
// line per partition to w, then a summary line. With o.Cluster, it does so on
// every shard's local tables (Cluster.DropExpired).
func Retain(ctx context.Context, o Options, months int, dryRun bool, now time.Time, w io.Writer) error {
	reg, err := schemas.Load()
	if err != nil {
		return err
	}
	if o.Cluster != "" {
		c, err := OpenCluster(ctx, o, reg)
		if err != nil {
			return err
		}
		return retainCluster(ctx, c, months, dryRun, now, w)
	}
	st, err := Open(ctx, o, reg)
	if err != nil {
		return err
	}
	defer st.Close()
	parts, err := st.DropExpired(ctx, months, now, dryRun)
	verb := "dropped"
	if dryRun {
		verb = "would drop"
	}
	var rows uint64
	for _, p := range parts {
		rows += p.Rows
		fmt.Fprintf(w, "%s\t%s.%s\tpartition %s\t%d rows\t%d bytes\n", verb, st.Database(), p.Table, p.Partition, p.Rows, p.Bytes)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s %d partitions (%d rows) older than %d (keeping %d months before %s) in %s\n",
		verb, len(parts), rows, RetentionCutoff(now, months), months, now.UTC().Format("2006-01"), st.Database())
	return nil
}
