package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/veiltelemetry/veil/internal/chstore"
	"github.com/veiltelemetry/veil/schemas"
)

// chClient queries the event tables of the run's databases.
type chClient struct {
	conn   driver.Conn   // to the first server that answers: on a cluster, the queries read its Distributed tables
	nodes  []driver.Conn // on a cluster, one per server, to drop the run's databases everywhere
	tables []string      // event tables: one per kind with a clean schema
}

// openClickHouse connects to the server with the compression the sink uses
// (native protocol), so that the raw insert baseline pays what the sink pays.
func openClickHouse(ctx context.Context, o chstore.Options, reg *schemas.Registry) (*chClient, error) {
	comp, err := chstore.ParseCompression(o.Compression)
	if err != nil {
		return nil, fmt.Errorf("bench: --clickhouse-compression: %w", err)
	}
	dial := func(addrs ...string) (driver.Conn, error) {
		conn, err := clickhouse.Open(&clickhouse.Options{
			Addr:        addrs,
			Auth:        clickhouse.Auth{Database: "default", Username: o.User, Password: o.Password},
			DialTimeout: 5 * time.Second,
			ReadTimeout: 5 * time.Minute,
			Compression: comp,
		})
		if err != nil {
			return nil, fmt.Errorf("bench: clickhouse %s: %w", strings.Join(addrs, ","), err)
		}
		if err := conn.Ping(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("bench: clickhouse %s: %w (start it with scripts/clickhouse start, or scripts/cluster start)", strings.Join(addrs, ","), err)
		}
		return conn, nil
	}
	addrs := strings.Split(o.Addr, ",")
	conn, err := dial(addrs...)
	if err != nil {
		return nil, err
	}
	c := &chClient{conn: conn}
	if o.Cluster != "" {
		for _, a := range addrs {
			n, err := dial(a)
			if err != nil {
				c.Close()
				return nil, err
			}
			c.nodes = append(c.nodes, n)
		}
	}
	for _, kind := range reg.Kinds() {
		if reg.Latest(schemas.Clean, kind) != nil {
			c.tables = append(c.tables, kind)
		}
	}
	return c, nil
}

// landed is count() over every event table of db.
func (c *chClient) landed(ctx context.Context, db string) (uint64, error) {
	parts := make([]string, len(c.tables))
	for i, t := range c.tables {
		parts[i] = fmt.Sprintf("(SELECT count() FROM %s.%s)", db, t)
	}
	var n uint64
	if err := c.conn.QueryRow(ctx, "SELECT "+strings.Join(parts, " + ")).Scan(&n); err != nil {
		return 0, fmt.Errorf("bench: count rows in %s: %w", db, err)
	}
	return n, nil
}

// distinct is uniqExact(event_id) over every event table of db.
func (c *chClient) distinct(ctx context.Context, db string) (uint64, error) {
	parts := make([]string, len(c.tables))
	for i, t := range c.tables {
		parts[i] = fmt.Sprintf("SELECT event_id FROM %s.%s", db, t)
	}
	var n uint64
	if err := c.conn.QueryRow(ctx, "SELECT uniqExact(event_id) FROM ("+strings.Join(parts, " UNION ALL ")+")").Scan(&n); err != nil {
		return 0, fmt.Errorf("bench: distinct event ids in %s: %w", db, err)
	}
	return n, nil
}

func (c *chClient) dropDatabase(ctx context.Context, db string) error {
	for _, conn := range append([]driver.Conn{c.conn}, c.nodes...) {
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			return fmt.Errorf("bench: drop database %s: %w", db, err)
		}
	}
	return nil
}

// merges is how many background merges the server is running.
func (c *chClient) merges(ctx context.Context) (uint64, error) {
	var n uint64
	if err := c.conn.QueryRow(ctx, "SELECT count() FROM system.merges").Scan(&n); err != nil {
		return 0, fmt.Errorf("bench: system.merges: %w", err)
	}
	return n, nil
}

// serverEvents reads the server-wide counters of system.events that describe
// the server's write work; events it has not counted yet read as 0.
func (c *chClient) serverEvents(ctx context.Context) (serverEvents, error) {
	rows, err := c.conn.Query(ctx, "SELECT event, value FROM system.events WHERE event IN ('InsertedRows', 'MergeTreeDataWriterRows', 'MergedRows', 'MergesTimeMilliseconds')")
	if err != nil {
		return serverEvents{}, fmt.Errorf("bench: system.events: %w", err)
	}
	defer rows.Close()
	var ev serverEvents
	for rows.Next() {
		var name string
		var v uint64
		if err := rows.Scan(&name, &v); err != nil {
			return serverEvents{}, fmt.Errorf("bench: system.events: %w", err)
		}
		switch name {
		case "InsertedRows":
			ev.inserted = v
		case "MergeTreeDataWriterRows":
			ev.written = v
		case "MergedRows":
			ev.merged = v
		case "MergesTimeMilliseconds":
			ev.mergeMs = v
		}
	}
	return ev, rows.Err()
}

// serverEvents is a reading of ClickHouse's cumulative write counters.
type serverEvents struct{ inserted, written, merged, mergeMs uint64 }

// work is what the server did between two readings.
func (after serverEvents) work(before serverEvents) *ClickHouseWork {
	d := func(a, b uint64) uint64 { return a - min(a, b) } // a restarted server starts again from 0
	return &ClickHouseWork{
		InsertedRows: d(after.inserted, before.inserted),
		WrittenRows:  d(after.written, before.written),
		MergedRows:   d(after.merged, before.merged),
		MergeSeconds: float64(d(after.mergeMs, before.mergeMs)) / 1000,
	}
}

func (c *chClient) Close() error {
	for _, n := range c.nodes {
		n.Close()
	}
	return c.conn.Close()
}
