package history

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Cluster is where breachd's history lives on a ClickHouse cluster: Name is the cluster as the
// servers' remote_servers name it (or a macro such as {cluster}), Database breachd's database.
//
// Its schema is derived from the single-node migrations (migrations, schema_migrations), one
// statement at a time, so a new migration reaches the cluster too or the derivation fails:
//   - CREATE TABLE t becomes t_local ON CLUSTER on every node, with the Replicated form of its
//     engine (ReplacingMergeTree(v) → ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/
//     <db>/t', '{replica}', v)) and its columns, PARTITION BY, ORDER BY, TTL, indexes and
//     settings unchanged, plus a Distributed table t over the t_local tables, so breachd's
//     queries and inserts need no change;
//   - the Distributed table's sharding key keeps the copies of a row on one shard, so FINAL (and
//     the queries' own collapsing), which ClickHouse applies per shard, stays exact: a
//     ReplacingMergeTree table is sharded by cityHash64 of its leading sort column (the account
//     for the event tables and alerts, the organisation for directory_events, the incident id
//     for incidents and evidence); a MergeTree table (audit), where rows never collapse, by
//     rand(); schema_migrations, a handful of rows, lives on one shard;
//   - ALTER TABLE t goes to t_local ON CLUSTER; its column changes (ADD, DROP, MODIFY, ALTER,
//     RENAME, COMMENT COLUMN) also to the Distributed table t, after the local tables (before
//     them for DROP COLUMN, so the Distributed table never names a column they lack); CLEAR
//     COLUMN, which changes data, goes to the local tables only; DROP TABLE t drops t and then
//     t_local SYNC (its Keeper path, which has no {uuid}, is free again when the statement
//     returns, so a later migration can create the table anew), DROP VIEW the view, ON CLUSTER.
//
// Every statement is idempotent (IF [NOT] EXISTS), as the single-node ones are. A statement of
// another shape is an error of Migrations: teach clusterStatements it.
type Cluster struct {
	Name     string
	Database string
}

// ClusterMigration is the cluster's form of one single-node migration: its statements, the
// last of which records Version in schema_migrations. Version 0 (the database and
// schema_migrations) records nothing: MaintainCluster runs it when the node has no
// schema_migrations to read.
type ClusterMigration struct {
	Version    int
	Name       string
	Statements []string
}

var (
	clusterName  = regexp.MustCompile(`^[A-Za-z0-9_.{}-]+$`)
	databaseName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// The single-node statements, as schema.go writes them.
	createTable = regexp.MustCompile(`(?s)^\s*CREATE TABLE IF NOT EXISTS (\w+) (\(.*\))\s*ENGINE = (\w+)(\([^)]*\))?(.*)$`)
	alterTable  = regexp.MustCompile(`(?s)^\s*ALTER TABLE (\w+)\s+(.*\S)\s*$`)
	dropObject  = regexp.MustCompile(`^\s*DROP (TABLE|VIEW) IF EXISTS (\w+)\s*$`)
	// The Distributed tables of clusterStatements.
	distributedTable = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS \w+\.(\w+) ON CLUSTER '[^']*' AS `)
	leadingSort      = regexp.MustCompile(`\bORDER BY \(?\s*(\w+)`)
	// Alterations of columns, which the Distributed table must follow (CLEAR COLUMN changes
	// data only: the local tables'), and of them the drops, which it must follow first.
	columnAction = regexp.MustCompile(`(?i)^(ADD|DROP|MODIFY|ALTER|RENAME|COMMENT)\s+COLUMN\b`)
	dropColumn   = regexp.MustCompile(`(?i)^DROP\s+COLUMN\b`)
)

// oneShard names the tables the Distributed table writes to the first shard only.
var oneShard = map[string]bool{"schema_migrations": true}

// ClusterOf returns the Cluster name with the database dsn names (clickhouse-go's default,
// "default", when it names none or dsn is empty).
func ClusterOf(dsn, name string) (Cluster, error) {
	c := Cluster{Name: name, Database: "default"}
	if dsn != "" {
		opts, err := clickhouse.ParseDSN(dsn)
		if err != nil {
			return c, fmt.Errorf("clickhouse dsn: %s", redact(err.Error(), dsn))
		}
		if opts.Auth.Database != "" {
			c.Database = opts.Auth.Database
		}
	}
	return c, c.check()
}

// check refuses names the statements could not carry as they are.
func (c Cluster) check() error {
	if !clusterName.MatchString(c.Name) {
		return fmt.Errorf("cluster name %q: use the name of the cluster in the servers' remote_servers (letters, digits, _ . -, or a macro such as {cluster})", c.Name)
	}
	if !databaseName.MatchString(c.Database) {
		return fmt.Errorf("database %q: breachd's database on a cluster must be a plain identifier (letters, digits, _)", c.Database)
	}
	return nil
}

// Migrations derives the cluster's schema from the single-node migrations
// (retentionDays: the TTL of the event tables they create), in order, version 0 first.
func (c Cluster) Migrations(retentionDays int) ([]ClusterMigration, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if retentionDays <= 0 {
		retentionDays = DefaultEventRetentionDays
	}
	migrationsTable, err := c.clusterStatements(schemaMigrationsTable)
	if err != nil {
		return nil, fmt.Errorf("schema_migrations: %w", err)
	}
	out := []ClusterMigration{{Name: "the database and schema_migrations",
		Statements: append([]string{fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s ON CLUSTER '%s'", c.Database, c.Name)}, migrationsTable...)}}
	for _, m := range migrations(retentionDays) {
		cm := ClusterMigration{Version: m.version, Name: m.name}
		for i, stmt := range m.statements {
			ss, err := c.clusterStatements(stmt)
			if err != nil {
				return nil, fmt.Errorf("migration %d (%s) statement %d has no cluster form: %w", m.version, m.name, i+1, err)
			}
			cm.Statements = append(cm.Statements, ss...)
		}
		cm.Statements = append(cm.Statements, fmt.Sprintf(
			"INSERT INTO %s.schema_migrations (version, name, applied) SETTINGS distributed_foreground_insert = 1 VALUES (%d, %s, now64(3))",
			c.Database, m.version, quote(m.name)))
		out = append(out, cm)
	}
	return out, nil
}

// clusterStatements is the cluster's form of one single-node statement.
func (c Cluster) clusterStatements(stmt string) ([]string, error) {
	on := fmt.Sprintf(" ON CLUSTER '%s'", c.Name)
	if m := createTable.FindStringSubmatch(stmt); m != nil {
		table, columns, engine, args, rest := m[1], m[2], m[3], strings.TrimSuffix(strings.TrimPrefix(m[4], "("), ")"), strings.TrimSpace(m[5])
		if !strings.HasSuffix(engine, "MergeTree") || strings.HasPrefix(engine, "Replicated") {
			return nil, fmt.Errorf("table %s: engine %s has no Replicated form here", table, engine)
		}
		replicated := fmt.Sprintf("Replicated%s('/clickhouse/tables/{shard}/%s/%s', '{replica}'", engine, c.Database, table)
		if strings.TrimSpace(args) != "" {
			replicated += ", " + strings.TrimSpace(args)
		}
		key, err := shardingKey(table, engine, rest)
		if err != nil {
			return nil, err
		}
		return []string{
			fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s_local%s %s\nENGINE = %s)\n%s", c.Database, table, on,
				reindent(columns, "    "), replicated, reindent(rest, "")),
			fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s%s AS %[1]s.%[2]s_local\nENGINE = Distributed('%[4]s', %[1]s, %[2]s_local, %[5]s)",
				c.Database, table, on, c.Name, key),
		}, nil
	}
	if m := alterTable.FindStringSubmatch(stmt); m != nil {
		table, actions := m[1], m[2]
		actions = reindent(actions, "    ")
		local := fmt.Sprintf("ALTER TABLE %s.%s_local%s %s", c.Database, table, on, actions)
		parts := splitTopLevel(actions)
		columns, drops := 0, 0
		for _, p := range parts {
			if columnAction.MatchString(p) {
				columns++
			}
			if dropColumn.MatchString(p) {
				drops++
			}
		}
		distributed := fmt.Sprintf("ALTER TABLE %s.%s%s %s", c.Database, table, on, actions)
		switch {
		case columns == 0:
			return []string{local}, nil
		case columns != len(parts):
			return nil, fmt.Errorf("ALTER TABLE %s mixes column changes (for the Distributed table too) with others (local tables only): split it", table)
		case drops == len(parts):
			return []string{distributed, local}, nil
		case drops == 0:
			return []string{local, distributed}, nil
		}
		return nil, fmt.Errorf("ALTER TABLE %s mixes DROP COLUMN (Distributed table first) with other column changes (local tables first): split it", table)
	}
	if m := dropObject.FindStringSubmatch(stmt); m != nil {
		if m[1] == "VIEW" {
			return []string{fmt.Sprintf("DROP VIEW IF EXISTS %s.%s%s", c.Database, m[2], on)}, nil
		}
		return []string{
			fmt.Sprintf("DROP TABLE IF EXISTS %s.%s%s", c.Database, m[2], on),
			fmt.Sprintf("DROP TABLE IF EXISTS %s.%s_local%s SYNC", c.Database, m[2], on),
		}, nil
	}
	first, _, _ := strings.Cut(strings.TrimSpace(stmt), "\n")
	return nil, fmt.Errorf("statement %q is not CREATE TABLE IF NOT EXISTS, ALTER TABLE or DROP TABLE/VIEW IF EXISTS", first)
}

// shardingKey is the Distributed table's sharding key of table (see Cluster).
func shardingKey(table, engine, rest string) (string, error) {
	switch {
	case oneShard[table]:
		return "0", nil
	case engine == "MergeTree":
		return "rand()", nil
	}
	m := leadingSort.FindStringSubmatch(rest)
	if m == nil {
		return "", fmt.Errorf("table %s: no ORDER BY to shard its copies by", table)
	}
	return fmt.Sprintf("cityHash64(%s)", m[1]), nil
}

// splitTopLevel splits the actions of an ALTER at the commas outside parentheses and quotes.
func splitTopLevel(s string) []string {
	var parts []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case quoted && ch == '\\':
			i++
		case ch == '\'':
			quoted = !quoted
		case quoted:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
		case ch == ',' && depth == 0:
			parts = append(parts, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(parts, strings.TrimSpace(s[start:]))
}

// reindent trims the lines of s and indents all but its first and a closing ")" by indent, for
// a script people read.
func reindent(s, indent string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if i > 0 && l != ")" {
			l = indent + l
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// quote writes s as a ClickHouse string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// WriteScript writes the cluster's whole schema (Migrations) as a SQL script, for review
// or for clickhouse-client --multiquery: statements end with ";" and a blank line.
func (c Cluster) WriteScript(w io.Writer, retentionDays int) error {
	ms, err := c.Migrations(retentionDays)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "-- breachd's history on the ClickHouse cluster '%s', database %s: the single-node migrations\n"+
		"-- of breachd's history/schema.go in their cluster form (`breachd migrate --cluster %[1]s --print`).\n"+
		"-- Every statement is idempotent; each migration ends by recording itself in schema_migrations.\n", c.Name, c.Database)
	for _, m := range ms {
		fmt.Fprintf(w, "\n-- migration %d: %s\n", m.Version, m.Name)
		for _, stmt := range m.Statements {
			if _, err := fmt.Fprintf(w, "%s;\n\n", stmt); err != nil {
				return err
			}
		}
	}
	return nil
}

// OpenCluster connects to the node of the cluster c (ClusterOf) that dsn names, for
// MaintainCluster. It connects to the server's default database, since breachd's may not exist
// yet: every statement of the cluster's schema names it.
func OpenCluster(ctx context.Context, dsn string, c Cluster, log *slog.Logger) (*Store, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("clickhouse dsn: %s", redact(err.Error(), dsn))
	}
	opts.Auth.Database = ""
	return open(ctx, opts, dsn, log)
}

// MaintainCluster runs r on the cluster c through s (OpenCluster): the cluster's migrations
// not yet recorded in c's schema_migrations — version 0, the database and schema_migrations,
// only when this node has no schema_migrations to read — then r.Retention on the local tables,
// ON CLUSTER, then with r.Show each table's retention on this node. With every migration
// recorded it runs no DDL but r.Retention's, so no ON CLUSTER statement waits for a node that
// is down.
func (s *Store) MaintainCluster(ctx context.Context, c Cluster, r MigrateRequest) (_ *Migrated, err error) {
	ms, err := c.Migrations(r.RetentionDays)
	if err != nil {
		return nil, err
	}
	if err := s.refuseSingleNode(ctx, c, ms); err != nil {
		return nil, err
	}
	recorded := c.Database + ".schema_migrations"
	done, err := s.appliedMigrationsIn(ctx, recorded)
	if missingTable(err) {
		if err := s.runClusterMigration(ctx, c, ms[0]); err != nil {
			return nil, err
		}
		done, err = s.appliedMigrationsIn(ctx, recorded)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w (every shard must answer, and the user may SELECT from it)", c.Name, err)
	}
	m := &Migrated{}
	for _, cm := range pendingMigrations(ms, done) {
		if err := s.runClusterMigration(ctx, c, cm); err != nil {
			return nil, err
		}
		s.log.Info("cluster schema migration applied", "cluster", c.Name, "version", cm.Version, "name", cm.Name)
		m.Applied++
	}
	l := c.layout()
	if m.retained = len(r.Retention) > 0; m.retained {
		if m.Statements, err = s.applyRetention(ctx, r.Retention, l); err != nil {
			return m, err
		}
	}
	if r.Show {
		m.Retention, err = s.retentionNow(ctx, l)
	}
	return m, err
}

// pendingMigrations are the migrations of ms that done does not record, in order, without
// version 0 (which records nothing).
func pendingMigrations(ms []ClusterMigration, done map[int]bool) []ClusterMigration {
	var out []ClusterMigration
	for _, cm := range ms {
		if cm.Version != 0 && !done[cm.Version] {
			out = append(out, cm)
		}
	}
	return out
}

// runClusterMigration runs the statements of cm, in order.
func (s *Store) runClusterMigration(ctx context.Context, c Cluster, cm ClusterMigration) error {
	for i, stmt := range cm.Statements {
		if err := s.conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("cluster %s, migration %d (%s) statement %d: %w", c.Name, cm.Version, cm.Name, i+1, err)
		}
	}
	return nil
}

// ClickHouse's UNKNOWN_TABLE and UNKNOWN_DATABASE.
const (
	codeUnknownTable    = 60
	codeUnknownDatabase = 81
)

// missingTable tells whether err says that a table or its database does not exist.
func missingTable(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && (ex.Code == codeUnknownTable || ex.Code == codeUnknownDatabase)
}

// layout is where the cluster's TTLs are: its local tables.
func (c Cluster) layout() tableLayout {
	return tableLayout{database: quote(c.Database), prefix: c.Database + ".", suffix: "_local", onCluster: fmt.Sprintf(" ON CLUSTER '%s'", c.Name)}
}

// refuseCluster refuses to run single-node migrations on a cluster's history (its
// schema_migrations a Distributed table): their DDL would reach the Distributed tables only.
// readErr is the error reading schema_migrations gave, if any.
func (s *Store) refuseCluster(ctx context.Context, readErr error) error {
	var distributed uint64
	err := s.conn.QueryRow(ctx, `SELECT count() FROM system.tables
		WHERE database = currentDatabase() AND name = 'schema_migrations' AND engine = 'Distributed'`).Scan(&distributed)
	if err != nil {
		return fmt.Errorf("read the engine of schema_migrations: %w", err)
	}
	return clusterRefusal(distributed > 0, readErr)
}

// clusterRefusal is refuseCluster's answer for a schema_migrations that is Distributed or not,
// whose read gave readErr: a cluster's history that could not be read is not said to be behind.
func clusterRefusal(distributed bool, readErr error) error {
	switch {
	case !distributed:
		return nil
	case readErr != nil:
		return fmt.Errorf("this history is on a ClickHouse cluster (schema_migrations is a Distributed table) and its "+
			"migrations could not be read (every shard must answer, and this user may SELECT from it): %w", readErr)
	}
	return fmt.Errorf("this history is on a ClickHouse cluster (schema_migrations is a Distributed table) and its schema is behind this breachd: " +
		"apply the new migrations with breachd migrate --cluster NAME --clickhouse DSN first")
}

// refuseSingleNode refuses a database where a table of breachd's names is not Distributed on
// this node: CREATE TABLE IF NOT EXISTS would keep it and record the cluster's migrations over
// it. Without a Distributed one among them the database holds a single-node history; with
// one, a cluster's history with plain tables made besides (a breachd migrate without --cluster,
// of a version that did not refuse a cluster's history, creates the tables of the migrations
// the cluster lacked).
func (s *Store) refuseSingleNode(ctx context.Context, c Cluster, ms []ClusterMigration) error {
	var names []string
	for _, m := range ms {
		for _, stmt := range m.Statements {
			if d := distributedTable.FindStringSubmatch(stmt); d != nil {
				names = append(names, quote(d[1]))
			}
		}
	}
	rows, err := s.conn.Query(ctx, `SELECT name, engine FROM system.tables WHERE database = `+quote(c.Database)+
		` AND name IN (`+strings.Join(names, ",")+`) ORDER BY name`)
	if err != nil {
		return fmt.Errorf("read the tables of %s: %w", c.Database, err)
	}
	defer rows.Close()
	var plain []string
	distributed := 0
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			return fmt.Errorf("read the tables of %s: %w", c.Database, err)
		}
		if engine == "Distributed" {
			distributed++
			continue
		}
		plain = append(plain, fmt.Sprintf("%s (%s)", name, engine))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the tables of %s: %w", c.Database, err)
	}
	switch {
	case len(plain) == 0:
		return nil
	case distributed == 0:
		return fmt.Errorf("database %s on this node holds a single-node history (tables %s, none Distributed): "+
			"breachd does not convert a single-node history to a cluster; give the cluster another database (see deploy/README.md)",
			c.Database, strings.Join(plain, ", "))
	}
	return fmt.Errorf("database %s on this node is a cluster's history, but its tables %s are not Distributed "+
		"(made by a breachd migrate without --cluster?): compare them with the script of --print, keep their rows elsewhere "+
		"and drop them, make sure the migrations that made them are not recorded, and run again (see deploy/README.md, "+
		"a cluster set up from hand-written DDL)", c.Database, strings.Join(plain, ", "))
}
