package chstore

import (
	"fmt"
	"regexp"
	"strings"
)

// In a cluster every server holds the tables of its shard under their local
// names, the table's name and LocalSuffix, in replicated engines
// (ReplicatedMergeTree and its kin, the replicas of a shard sharing a path in
// ZooKeeper), and a Distributed table of the table's own name over the local
// tables of every shard. Analysts query the Distributed tables, so every query
// written for one server reads the whole cluster unchanged; the sink writes
// each Kafka partition's rows to the local tables of one shard (ShardOf).
//
// The migrations are written for one server. RenderCluster derives each
// server's statements from the same text:
//
//   - CREATE TABLE IF NOT EXISTS db.t (...) ENGINE = XMergeTree(args) becomes
//     db.t_local with ENGINE = ReplicatedXMergeTree('/clickhouse/tables/{shard}/db/t_local',
//     '{replica}', args), then CREATE TABLE IF NOT EXISTS db.t AS db.t_local
//     ENGINE = Distributed(cluster, db, t_local[, kafka_partition]). A table with
//     a kafka_partition column is sharded by it, so that a row written through
//     the Distributed table lands on the shard the sink writes its partition to.
//   - CREATE MATERIALIZED VIEW IF NOT EXISTS db.v ENGINE = ... AS SELECT ... FROM
//     db.t (a rollup) becomes db.v_local over db.t_local, in the replicated
//     engine, and a Distributed db.v over it: the rollups are kept per shard and
//     a query's aggregate functions (sum, uniqMerge) merge the shards' states.
//   - CREATE MATERIALIZED VIEW IF NOT EXISTS db.v TO db.x AS SELECT ... FROM db.t
//     becomes db.v_local TO db.x_local FROM db.t_local, and nothing else: the
//     view holds nothing.
//   - ALTER TABLE db.t ADD|DROP|MODIFY|COMMENT COLUMN ... runs on db.t_local and
//     on the Distributed db.t of every server. ClickHouse replicates a column
//     change through ZooKeeper, but a replica created later from the first
//     migration's text would keep that text's columns: running the change on
//     every replica is harmless and keeps them equal.
//   - ALTER TABLE db.t UPDATE|DELETE (a mutation) and INSERT INTO db.t ...
//     SELECT change data: they run on db.t_local of one replica of each shard,
//     and replication copies the result to the others.
//   - DROP TABLE IF EXISTS db.t (a table or a view) drops db.t, the Distributed
//     table, and db.t_local on every server; a view written TO another table
//     has only its db.t_local, and IF EXISTS skips the other.
//
// Every other statement is refused: a migration that needs another form must
// teach RenderCluster, and the golden file of the cluster rendering
// (testdata/cluster.golden) shows what each migration becomes.

// LocalSuffix ends the name of a table, or view, that holds one shard's rows
// in a cluster; the name without it is the Distributed table over all shards.
const LocalSuffix = "_local"

// Scope says on which servers of a cluster a statement runs.
type Scope int

const (
	// EveryServer statements create or change each server's own objects.
	EveryServer Scope = iota
	// OnePerShard statements change replicated data: they run on one replica
	// of each shard, and replication copies what they did.
	OnePerShard
)

func (s Scope) String() string {
	if s == OnePerShard {
		return "one replica per shard"
	}
	return "every server"
}

// Statement is one statement of a migration rendered for a cluster.
type Statement struct {
	SQL   string
	Scope Scope
}

// ZooKeeperPath is where the replicas of a shard's local table meet in
// ZooKeeper; {shard} is each server's macro.
func ZooKeeperPath(db, local string) string {
	return "/clickhouse/tables/{shard}/" + db + "/" + local
}

var (
	identRE   = `[A-Za-z_][A-Za-z0-9_]*`
	createTab = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(` + identRE + `)\.(` + identRE + `)\b`)
	createMV  = regexp.MustCompile(`(?is)^CREATE\s+MATERIALIZED\s+VIEW\s+IF\s+NOT\s+EXISTS\s+(` + identRE + `)\.(` + identRE + `)\b`)
	viewTo    = regexp.MustCompile(`(?is)^\s*TO\s+`)
	alterTab  = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+(` + identRE + `)\.(` + identRE + `)\s+(.*)$`)
	dropTab   = regexp.MustCompile(`(?is)^DROP\s+TABLE\s+IF\s+EXISTS\s+(` + identRE + `)\.(` + identRE + `)\s*$`)
	insertSel = regexp.MustCompile(`(?is)^INSERT\s+INTO\s+(` + identRE + `)\.(` + identRE + `)\b.*\bSELECT\b`)
	engineRE  = regexp.MustCompile(`(?is)\bENGINE\s*=\s*(` + identRE + `)`)
	kafkaPart = regexp.MustCompile(`(?m)^\s*kafka_partition\s+UInt`)
	columnOp  = regexp.MustCompile(`(?is)^(ADD|DROP|MODIFY|COMMENT)\s+COLUMN\b`)
	dataOp    = regexp.MustCompile(`(?is)^(UPDATE|DELETE)\b`)
)

// RenderCluster expands a migration for the servers of cluster: the statements
// Render gives one server, rewritten as the comment above says, in order, each
// with the servers it runs on. It fails on a statement it cannot rewrite.
func RenderCluster(sql, db, cluster string, f Features) ([]Statement, error) {
	if cluster == "" {
		return nil, fmt.Errorf("chstore: no cluster name")
	}
	stmts, err := Render(sql, db, f)
	if err != nil {
		return nil, err
	}
	var out []Statement
	for _, st := range stmts {
		r, err := clusterStatement(st, db, cluster)
		if err != nil {
			return nil, fmt.Errorf("chstore: cluster %s: %w\n%s", cluster, err, st)
		}
		out = append(out, r...)
	}
	return out, nil
}

func clusterStatement(st, db, cluster string) ([]Statement, error) {
	st = strings.TrimSpace(st)
	own := func(m []string) error {
		if m[1] != db {
			return fmt.Errorf("the statement names database %s, not %s", m[1], db)
		}
		return nil
	}
	distributed := func(name, key string) Statement {
		args := cluster + ", " + db + ", " + name + LocalSuffix
		if key != "" {
			args += ", " + key
		}
		return Statement{SQL: "CREATE TABLE IF NOT EXISTS " + db + "." + name + " AS " + db + "." + name + LocalSuffix +
			" ENGINE = Distributed(" + args + ")", Scope: EveryServer}
	}
	switch {
	case createTab.MatchString(st):
		m := createTab.FindStringSubmatch(st)
		if err := own(m); err != nil {
			return nil, err
		}
		local, err := replicated(localize(st, db), db, m[2]+LocalSuffix)
		if err != nil {
			return nil, err
		}
		key := ""
		if kafkaPart.MatchString(st) {
			key = "kafka_partition"
		}
		return []Statement{{SQL: local, Scope: EveryServer}, distributed(m[2], key)}, nil

	case createMV.MatchString(st):
		m := createMV.FindStringSubmatch(st)
		if err := own(m); err != nil {
			return nil, err
		}
		rest := st[len(m[0]):]
		if viewTo.MatchString(rest) {
			return []Statement{{SQL: localize(st, db), Scope: EveryServer}}, nil
		}
		local, err := replicated(localize(st, db), db, m[2]+LocalSuffix)
		if err != nil {
			return nil, err
		}
		return []Statement{{SQL: local, Scope: EveryServer}, distributed(m[2], "")}, nil

	case alterTab.MatchString(st):
		m := alterTab.FindStringSubmatch(st)
		if err := own(m); err != nil {
			return nil, err
		}
		ops := splitTopLevel(m[3], ',')
		var columns, data int
		for _, op := range ops {
			switch op = strings.TrimSpace(op); {
			case columnOp.MatchString(op):
				columns++
			case dataOp.MatchString(op):
				data++
			default:
				return nil, fmt.Errorf("ALTER TABLE ... %s: cluster mode runs column changes (ADD, DROP, MODIFY, COMMENT COLUMN) and mutations (UPDATE, DELETE) only", firstWords(op, 3))
			}
		}
		switch {
		case columns > 0 && data > 0:
			return nil, fmt.Errorf("an ALTER TABLE that both changes columns and mutates data: split it, they run on different servers")
		case data > 0:
			return []Statement{{SQL: localize(st, db), Scope: OnePerShard}}, nil
		}
		return []Statement{{SQL: localize(st, db), Scope: EveryServer}, {SQL: st, Scope: EveryServer}}, nil

	case insertSel.MatchString(st):
		if err := own(insertSel.FindStringSubmatch(st)); err != nil {
			return nil, err
		}
		return []Statement{{SQL: localize(st, db), Scope: OnePerShard}}, nil

	case dropTab.MatchString(st):
		if err := own(dropTab.FindStringSubmatch(st)); err != nil {
			return nil, err
		}
		return []Statement{{SQL: st, Scope: EveryServer}, {SQL: localize(st, db), Scope: EveryServer}}, nil
	}
	return nil, fmt.Errorf("cluster mode cannot run %q...: it knows CREATE TABLE|MATERIALIZED VIEW IF NOT EXISTS, ALTER TABLE, INSERT ... SELECT and DROP TABLE IF EXISTS", firstWords(st, 4))
}

// localize renames every db.name in st to db.name_local.
func localize(st, db string) string {
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(db) + `\.(` + identRE + `)\b`)
	return re.ReplaceAllString(st, db+".${1}"+LocalSuffix)
}

// replicated turns the MergeTree-family engine of st into its replicated form,
// the replica's ZooKeeper path and name first among its arguments.
func replicated(st, db, local string) (string, error) {
	loc := engineRE.FindStringSubmatchIndex(st)
	if loc == nil {
		return "", fmt.Errorf("no ENGINE to replicate")
	}
	engine := st[loc[2]:loc[3]]
	if !strings.HasSuffix(engine, "MergeTree") || strings.HasPrefix(engine, "Replicated") {
		return "", fmt.Errorf("engine %s: cluster mode replicates the MergeTree family only", engine)
	}
	after := loc[1]
	var args string
	if rest := st[after:]; strings.HasPrefix(strings.TrimLeft(rest, " \t"), "(") {
		open := after + strings.Index(rest, "(")
		end := matchingParen(st, open)
		if end < 0 {
			return "", fmt.Errorf("engine %s: unbalanced parentheses", engine)
		}
		args = strings.TrimSpace(st[open+1 : end])
		after = end + 1
	}
	repl := "'" + ZooKeeperPath(db, local) + "', '{replica}'"
	if args != "" {
		repl += ", " + args
	}
	return st[:loc[2]] + "Replicated" + engine + "(" + repl + ")" + st[after:], nil
}

// matchingParen returns the index of the parenthesis closing the one at open,
// skipping quoted strings, or -1.
func matchingParen(s string, open int) int {
	end := -1
	walkTopLevel(s, open, func(i, depth int) bool {
		if s[i] == ')' && depth == 0 {
			end = i
			return false
		}
		return true
	})
	return end
}

// splitTopLevel splits s at sep outside parentheses and quotes.
func splitTopLevel(s string, sep byte) []string {
	var out []string
	start := 0
	walkTopLevel(s, 0, func(i, depth int) bool {
		if s[i] == sep && depth == 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
		return true
	})
	return append(out, s[start:])
}

// walkTopLevel calls at for each byte of s from start on that is outside
// quoted strings (' " `, with backslash escapes), with the depth of
// parentheses after it (counted from start), until at returns false.
func walkTopLevel(s string, start int, at func(i, depth int) bool) {
	depth := 0
	var quote byte
	for i := start; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
			continue
		case c == '\'' || c == '"' || c == '`':
			quote = c
			continue
		case c == '(':
			depth++
		case c == ')':
			depth--
		}
		if !at(i, depth) {
			return
		}
	}
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = f[:n]
	}
	return strings.Join(f, " ")
}
