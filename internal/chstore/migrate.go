package chstore

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one embedded, versioned migration.
type Migration struct {
	Version int
	Name    string
	SQL     string // template text
}

// Migrations lists the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("chstore: migration %s: name must be NNNN_name.sql", base)
		}
		data, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(base, ".sql"), SQL: string(data)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Features are what the connected server supports beyond ClickHouse 18.16.
type Features struct {
	LowCardinality bool // 19.3+ (stable since 19.9)
}

// FeaturesOf derives the features from a server version "major.minor.patch...".
func FeaturesOf(major, minor int) Features {
	return Features{LowCardinality: major > 19 || major == 19 && minor >= 9}
}

// Render expands a migration for a database and server.
func Render(sql, db string, f Features) ([]string, error) {
	t, err := template.New("m").Option("missingkey=error").Parse(sql)
	if err != nil {
		return nil, err
	}
	lc := "String"
	if f.LowCardinality {
		lc = "LowCardinality(String)"
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, map[string]any{"DB": db, "LC": lc}); err != nil {
		return nil, err
	}
	return splitStatements(buf.String()), nil
}

// splitStatements splits on semicolons at line ends and removes comment lines;
// migrations contain no semicolons inside literals.
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// Migrate creates the database and applies every migration not yet recorded in
// schema_migrations. It is idempotent and safe to run from several sinks at once:
// every statement is CREATE ... IF NOT EXISTS, and a version is recorded only after
// all its statements succeeded. A Store of a cluster's shard or server refuses:
// Cluster.Migrate migrates every server.
func (s *Store) Migrate(ctx context.Context) ([]Migration, error) {
	if s.cluster != "" {
		return nil, fmt.Errorf("chstore: a server of cluster %s is migrated with the cluster's (sink migrate --clickhouse-cluster %s)", s.cluster, s.cluster)
	}
	applied, err := s.migrationState(ctx)
	if err != nil {
		return nil, err
	}
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	var done []Migration
	for _, m := range all {
		if applied[m.Version] {
			continue
		}
		stmts, err := Render(m.SQL, s.db, s.features)
		if err != nil {
			return done, fmt.Errorf("chstore: render %s: %w", m.Name, err)
		}
		for _, st := range stmts {
			if err := s.conn.Exec(ctx, st); err != nil {
				return done, fmt.Errorf("chstore: migration %s: %w", m.Name, err)
			}
		}
		if err := s.record(ctx, m); err != nil {
			return done, fmt.Errorf("chstore: record %s: %w", m.Name, err)
		}
		done = append(done, m)
	}
	return done, nil
}

// migrationState creates the database and its schema_migrations if missing and
// returns the versions recorded there.
func (s *Store) migrationState(ctx context.Context) (map[int]bool, error) {
	if err := s.conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+s.db); err != nil {
		return nil, fmt.Errorf("chstore: create database %s: %w", s.db, err)
	}
	if err := s.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+s.db+".schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = TinyLog"); err != nil {
		return nil, fmt.Errorf("chstore: create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := s.conn.Query(ctx, "SELECT version FROM "+s.db+".schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("chstore: read schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[int(v)] = true
	}
	return applied, rows.Err()
}

// record notes a migration as applied. It inserts through PrepareBatch: on
// ClickHouse 18.16, clickhouse-go's Exec of an INSERT ... VALUES hangs the
// connection, while a batch with an explicit column list works everywhere.
func (s *Store) record(ctx context.Context, m Migration) error {
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+".schema_migrations (version, name, applied_at)")
	if err != nil {
		return err
	}
	defer b.Abort()
	if err := b.Append(uint32(m.Version), m.Name, time.Now()); err != nil {
		return err
	}
	return b.Send()
}
