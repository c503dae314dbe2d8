package chstore

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/veiltelemetry/veil/schemas"
)

// Options to connect.
type Options struct {
	Addr     string // native protocol host:port, default 127.0.0.1:9000
	Database string // default veil
	User     string // default "default"
	Password string
	// Compression of the native protocol's blocks: lz4 (the default), zstd or
	// none. On one machine none saves both ends the work; across a network lz4
	// sends a third of the bytes.
	Compression string
	// Cluster names a cluster of the servers' <remote_servers> (e.g.
	// veil_cluster): the tables are sharded and replicated (OpenCluster,
	// Cluster.Migrate), and Addr may list several of its servers,
	// comma-separated, the first that answers telling the others. Empty: one
	// server.
	Cluster string
}

// ParseCompression maps a compression name to clickhouse-go's setting.
func ParseCompression(name string) (*clickhouse.Compression, error) {
	switch strings.ToLower(name) {
	case "", "lz4":
		return &clickhouse.Compression{Method: clickhouse.CompressionLZ4}, nil
	case "zstd":
		return &clickhouse.Compression{Method: clickhouse.CompressionZSTD}, nil
	case "none":
		return &clickhouse.Compression{Method: clickhouse.CompressionNone}, nil
	}
	return nil, fmt.Errorf("unknown ClickHouse compression %q (lz4, zstd, none)", name)
}

// Store is a connection to ClickHouse holding the pipeline's tables.
type Store struct {
	conn     driver.Conn
	db       string
	version  string
	features Features
	tables   map[string]*Table // by event kind
	cluster  string            // the cluster of a shard's or server's Store (OpenShard, OpenNode): its tables are the local ones
}

// dialTimeout bounds connecting to ClickHouse, the TCP connection and the
// protocol's handshake each.
const dialTimeout = 5 * time.Second

// Open connects and reads the server version. It does not create anything; call
// Migrate. It returns when ctx ends, even while the server has not answered the
// handshake yet.
func Open(ctx context.Context, o Options, reg *schemas.Registry) (*Store, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:9000"
	}
	return open(ctx, o, []string{o.Addr}, reg, "")
}

// open connects to the first of addrs that answers (the driver tries them in
// order, and the next when a connection to one fails), with the tables named
// db.<kind><suffix>.
func open(ctx context.Context, o Options, addrs []string, reg *schemas.Registry, suffix string) (*Store, error) {
	if o.Database == "" {
		o.Database = "veil"
	}
	conn, v, err := dial(ctx, o, addrs)
	if err != nil {
		return nil, err
	}
	s := &Store{
		conn: conn, db: o.Database,
		version:  fmt.Sprintf("%d.%d.%d", v.Version.Major, v.Version.Minor, v.Version.Patch),
		features: FeaturesOf(int(v.Version.Major), int(v.Version.Minor)),
		tables:   map[string]*Table{},
	}
	for _, kind := range reg.Kinds() {
		clean := reg.Latest(schemas.Clean, kind)
		if clean == nil {
			continue
		}
		t, err := newTableNamed(o.Database, clean.Kind+suffix, clean)
		if err != nil {
			conn.Close()
			return nil, err
		}
		s.tables[kind] = t
	}
	return s, nil
}

// dial opens a connection pool to addrs and reads the server's version.
func dial(ctx context.Context, o Options, addrs []string) (driver.Conn, *driver.ServerVersion, error) {
	if o.User == "" {
		o.User = "default"
	}
	where := strings.Join(addrs, ",")
	comp, err := ParseCompression(o.Compression)
	if err != nil {
		return nil, nil, fmt.Errorf("chstore: %w", err)
	}
	dialer := &net.Dialer{Timeout: dialTimeout}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: addrs,
		// No current database: every statement names its database, and a user
		// allowed only its own databases (allow_databases) may not use
		// "default". The database itself may not exist before Migrate.
		Auth: clickhouse.Auth{Username: o.User, Password: o.Password},
		// The driver's own dialer ignores the context; this one gives up on a
		// connection attempt when the query's context ends.
		DialContext: func(ctx context.Context, addr string) (net.Conn, error) { return dialer.DialContext(ctx, "tcp", addr) },
		DialTimeout: dialTimeout,
		ReadTimeout: 5 * time.Minute,
		Compression: comp,
		// A block is encoded, compressed and sent column by column once this much
		// is buffered. Each pooled connection keeps its buffers: the driver's
		// 10 MiB default made them a third of the sink's heap. The sink inserts
		// a batch's tables at once (up to 8 connections) but keeps only 2 idle:
		// reconnecting per batch is cheap, holding 8 connections' buffers was
		// 25 MiB of its heap.
		MaxCompressionBuffer: 1 << 20,
		MaxOpenConns:         8,
		MaxIdleConns:         2,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("chstore: open %s: %w", where, err)
	}
	// The driver reads the handshake until DialTimeout whatever ctx says; the
	// ping is left to finish in the background when ctx ends first.
	ping := make(chan error, 1)
	go func() { ping <- conn.Ping(ctx) }()
	select {
	case err = <-ping:
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("chstore: ping %s: %w", where, err)
	}
	v, err := conn.ServerVersion()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("chstore: server version: %w", err)
	}
	return conn, v, nil
}

// Close closes the connection.
func (s *Store) Close() error { return s.conn.Close() }

// Version is the server version, e.g. "18.16.1".
func (s *Store) Version() string { return s.version }

// Features the server has.
func (s *Store) Features() Features { return s.features }

// Database name.
func (s *Store) Database() string { return s.db }

// Conn exposes the connection for queries (tests, analysts' tools).
func (s *Store) Conn() driver.Conn { return s.conn }

// Ping checks the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// Table returns the table of an event kind.
func (s *Store) Table(kind string) (*Table, bool) {
	t, ok := s.tables[kind]
	return t, ok
}

// Table maps a clean schema onto a ClickHouse table of the same name as its kind
// (in a cluster, its local table: the kind and LocalSuffix).
type Table struct {
	Name     string // qualified: db.kind
	Schema   *schemas.Schema
	TimeCol  string   // the DateTime column partitions are derived from
	timeAt   int      // position of TimeCol among the fields
	columns  []string // clean fields, then kafka_partition, kafka_offset
	insertSQ string
}

func newTable(db string, clean *schemas.Schema) (*Table, error) {
	return newTableNamed(db, clean.Kind, clean)
}

func newTableNamed(db, name string, clean *schemas.Schema) (*Table, error) {
	t := &Table{Name: db + "." + name, Schema: clean}
	for i, f := range clean.Fields {
		switch clean.Type(i) {
		case kindString:
		case kindTime:
			if t.TimeCol == "" {
				t.TimeCol, t.timeAt = f.Name, len(t.columns)
			}
		default:
			return nil, fmt.Errorf("chstore: %s.%s: type %s has no column mapping", clean.Name, f.Name, f.Type)
		}
		t.columns = append(t.columns, f.Name)
	}
	if t.TimeCol == "" {
		return nil, fmt.Errorf("chstore: %s has no timestamp-millis field to partition by", clean.Name)
	}
	t.columns = append(t.columns, "kafka_partition", "kafka_offset")
	t.insertSQ = "INSERT INTO " + t.Name + " (" + strings.Join(t.columns, ", ") + ")"
	return t, nil
}

// colKind is the type of a column's field; the schemas package reads the
// types. A column is a String or a DateTime: newTableNamed refuses a clean
// field of any other type.
type colKind = schemas.FieldType

const (
	kindString = schemas.TString
	kindTime   = schemas.TTimestamp // DateTime, to the second
)

// ResumeKey identifies what one Kafka partition contributed to one INSERT
// part: a table's month.
type ResumeKey struct {
	Table     string
	Partition int
	Month     uint32 // YYYYMM
}

// Resume returns, for the given Kafka partitions, the highest offset already
// stored per table and month. A record at or below it is in ClickHouse and must
// not be inserted again.
func (s *Store) Resume(ctx context.Context, partitions ...int) (map[ResumeKey]int64, error) {
	out := map[ResumeKey]int64{}
	if len(partitions) == 0 {
		return out, nil
	}
	in := make([]string, len(partitions))
	for i, p := range partitions {
		in[i] = strconv.Itoa(p)
	}
	for _, t := range s.tables {
		q := fmt.Sprintf("SELECT kafka_partition, toYYYYMM(%s) AS m, max(kafka_offset) FROM %s WHERE kafka_partition IN (%s) GROUP BY kafka_partition, m",
			t.TimeCol, t.Name, strings.Join(in, ", "))
		rows, err := s.conn.Query(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("chstore: resume points of %s partitions %v: %w", t.Name, partitions, err)
		}
		for rows.Next() {
			var p, m uint32
			var off uint64
			if err := rows.Scan(&p, &m, &off); err != nil {
				rows.Close()
				return nil, err
			}
			out[ResumeKey{t.Name, int(p), m}] = int64(off)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Month returns YYYYMM of t in UTC, as toYYYYMM does for a DateTime in a UTC server.
func Month(t time.Time) uint32 {
	t = t.UTC()
	return uint32(t.Year()*100 + int(t.Month()))
}
