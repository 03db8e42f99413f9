package history_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"breachd/history"
)

// The cluster schema is checked against the single-node one in the embedded engine, which has
// no cluster and no Keeper: every generated statement goes through ClickHouse's parser
// (formatQuery), and then its canonical text is run in a scratch database with the cluster
// taken out — ON CLUSTER removed, the Replicated engine swapped for the plain one it
// replicates (after checking its path and replica), the Distributed engine for Memory (after
// checking its cluster, database, table and sharding key). What ClickHouse then reports of the
// scratch tables (columns, engine with its keys, TTL and settings, indexes) must be what it
// reports of the single-node tables.

var (
	onCluster     = regexp.MustCompile(` ON CLUSTER (\S+)`)
	replicatedEng = regexp.MustCompile(`ENGINE = Replicated(\w+)\('([^']*)', '([^']*)'(?:, ([^)]*))?\)`)
	distributedEn = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+) AS (\w+)\.(\w+)\s+ENGINE = Distributed\('([^']*)', (\w+), (\w+), (.*)\)$`)
	createdTable  = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)`)
)

// strs runs query and returns its rows, every column read as a string.
func strs(t *testing.T, s *history.Store, query string, args ...any) [][]string {
	t.Helper()
	rows, err := s.Conn().Query(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		row := make([]string, len(rows.Columns()))
		ptrs := make([]any, len(row))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

// canonical is stmt as ClickHouse's parser reads it (formatQuery), or the parser's error.
func canonical(s *history.Store, stmt string) (string, error) {
	var out string
	err := s.Conn().QueryRow(context.Background(), "SELECT formatQuery(?)", stmt).Scan(&out)
	return out, err
}

// tableFacts is what ClickHouse says of a table: its columns, engine_full with the database
// name taken out, its skip indexes.
func tableFacts(t *testing.T, s *history.Store, db, table string) (columns, engine, indexes string) {
	t.Helper()
	cols := strs(t, s, `SELECT name, type, default_kind, default_expression FROM system.columns
		WHERE database = ? AND table = ? ORDER BY position`, db, table)
	eng := strs(t, s, `SELECT engine_full FROM system.tables WHERE database = ? AND name = ?`, db, table)
	idx := strs(t, s, `SELECT name, type_full, expr, toString(granularity) FROM system.data_skipping_indices
		WHERE database = ? AND table = ? ORDER BY name`, db, table)
	if len(eng) != 1 {
		t.Fatalf("table %s.%s does not exist", db, table)
	}
	return fmt.Sprint(cols), eng[0][0], fmt.Sprint(idx)
}

func TestClusterSchemaMatchesSingleNode(t *testing.T) {
	ctx := context.Background()
	s := openStore(t) // the single-node migrations, in the current database
	single := strs(t, s, `SELECT currentDatabase()`)[0][0]
	c := history.Cluster{Name: "{cluster}", Database: "breachd_cluster"}
	ms, err := c.Migrations(0)
	if err != nil {
		t.Fatal(err)
	}

	type distributed struct{ local, key string }
	dist := map[string]distributed{} // Distributed table → its local table and sharding key
	var versions []string
	statements := 0
	for _, m := range ms {
		for _, stmt := range m.Statements {
			statements++
			canon, err := canonical(s, stmt)
			if err != nil {
				t.Fatalf("migration %d: ClickHouse's parser refuses\n%s\n: %v", m.Version, stmt, err)
			}
			on := onCluster.FindStringSubmatch(canon)
			switch {
			case on == nil && strings.HasPrefix(canon, "INSERT INTO breachd_cluster.schema_migrations "):
				versions = append(versions, fmt.Sprint(m.Version))
			case on == nil:
				t.Fatalf("migration %d: a statement without ON CLUSTER: %s", m.Version, canon)
			case on[1] != "`{cluster}`" && on[1] != "'{cluster}'" && on[1] != "{cluster}":
				t.Fatalf("migration %d: ON CLUSTER %s, want {cluster}: %s", m.Version, on[1], canon)
			}
			plain := onCluster.ReplaceAllString(canon, "")
			if on == nil { // formatQuery leaves out an INSERT's data: run it as it is
				plain = stmt
			}
			if r := replicatedEng.FindStringSubmatch(plain); r != nil {
				table := strings.TrimSuffix(createdTable.FindStringSubmatch(plain)[2], "_local")
				if want := "/clickhouse/tables/{shard}/breachd_cluster/" + table; r[2] != want || r[3] != "{replica}" {
					t.Errorf("%s_local: replicated at %q as %q, want %q, {replica}", table, r[2], r[3], want)
				}
				engine := r[1]
				if r[4] != "" {
					engine += "(" + r[4] + ")"
				}
				plain = strings.Replace(plain, r[0], "ENGINE = "+engine, 1)
			}
			if d := distributedEn.FindStringSubmatch(strings.Join(strings.Fields(plain), " ")); d != nil {
				if d[1] != "breachd_cluster" || d[3] != "breachd_cluster" || d[4] != d[2]+"_local" ||
					d[5] != "{cluster}" || d[6] != "breachd_cluster" || d[7] != d[4] {
					t.Errorf("Distributed table %s.%s: %s", d[1], d[2], canon)
				}
				dist[d[2]] = distributed{local: d[4], key: d[8]}
				plain = fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s AS %s.%s ENGINE = Memory", d[1], d[2], d[3], d[4])
			}
			if err := s.Conn().Exec(ctx, plain); err != nil {
				t.Fatalf("migration %d: %s\n(run single-node as %s): %v", m.Version, canon, plain, err)
			}
		}
	}
	t.Logf("%d migrations, %d statements, each parsed by ClickHouse and run without the cluster", len(ms), statements)

	// Every migration records itself; every single-node table has its local and Distributed pair.
	recorded := strs(t, s, `SELECT toString(version) FROM breachd_cluster.schema_migrations ORDER BY version`)
	var want [][]string
	for _, m := range history.MigrationVersions() {
		want = append(want, []string{fmt.Sprint(m)})
	}
	if fmt.Sprint(recorded) != fmt.Sprint(want) || len(versions) != len(want) {
		t.Errorf("recorded versions %v (inserts for %v), want %v", recorded, versions, want)
	}
	tables := strs(t, s, `SELECT name, engine FROM system.tables WHERE database = ? ORDER BY name`, single)
	var names []string
	for _, row := range tables {
		names = append(names, row[0])
	}
	if !slices.Contains(names, "schema_migrations") || !slices.Contains(names, "evidence") || !slices.Contains(names, "audit") {
		t.Fatalf("single-node tables %v: want schema_migrations, evidence and audit among them", names)
	}
	if got := slices.Sorted(maps.Keys(dist)); fmt.Sprint(got) != fmt.Sprint(names) {
		t.Errorf("Distributed tables %v, want one for each single-node table %v", got, names)
	}
	inCluster := strs(t, s, `SELECT name FROM system.tables WHERE database = 'breachd_cluster' ORDER BY name`)
	if len(inCluster) != 2*len(names) {
		t.Errorf("cluster tables %v, want a local and a Distributed table for each of %v and nothing else", inCluster, names)
	}

	for _, row := range tables {
		table, engine := row[0], row[1]
		cols, eng, idx := tableFacts(t, s, single, table)
		lcols, leng, lidx := tableFacts(t, s, "breachd_cluster", table+"_local")
		dcols, _, _ := tableFacts(t, s, "breachd_cluster", table)
		if lcols != cols || dcols != cols {
			t.Errorf("%s: columns\n single-node %s\n local       %s\n Distributed %s", table, cols, lcols, dcols)
		}
		// engine_full: the engine and its arguments, PARTITION BY, ORDER BY, TTL, SETTINGS.
		if leng != eng {
			t.Errorf("%s: engine\n single-node %s\n local       %s", table, eng, leng)
		}
		if lidx != idx {
			t.Errorf("%s: indexes\n single-node %s\n local       %s", table, idx, lidx)
		}
		// The sharding key: copies of a row (same sort key) on one shard.
		key := dist[table].key
		sorting := strs(t, s, `SELECT sorting_key FROM system.tables WHERE database = ? AND name = ?`, single, table)[0][0]
		leading, _, _ := strings.Cut(sorting, ",")
		switch {
		case table == "schema_migrations":
			if key != "0" {
				t.Errorf("schema_migrations sharded by %s, want 0 (one shard)", key)
			}
		case engine == "MergeTree":
			if key != "rand()" {
				t.Errorf("%s (MergeTree) sharded by %s, want rand()", table, key)
			}
		case strings.HasPrefix(engine, "ReplacingMergeTree"):
			if key != "cityHash64("+leading+")" {
				t.Errorf("%s (sorted by %s) sharded by %s, want cityHash64(%s)", table, sorting, key, leading)
			}
			if strs(t, s, `SELECT toString(count()) FROM system.columns WHERE database = 'breachd_cluster' AND table = ? AND name = ?`,
				table, leading)[0][0] != "1" {
				t.Errorf("%s: sharding column %s is not a column of the Distributed table", table, leading)
			}
		default:
			t.Errorf("%s: engine %s, not one this test knows", table, engine)
		}
	}

	// Retention on the cluster goes to the local tables; the cluster's retention reads them.
	for table, days := range map[string]int{"audit": 1825, "auth_events": 0} {
		stmt := c.RetentionStatement(table, days)
		canon, err := canonical(s, stmt)
		if err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		if !onCluster.MatchString(canon) || !strings.Contains(canon, "breachd_cluster."+table+"_local") {
			t.Errorf("retention statement %s: want it ON CLUSTER on the local table", canon)
		}
		if err := s.Conn().Exec(ctx, onCluster.ReplaceAllString(canon, "")); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.ClusterRetentionNow(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if r["audit"] != 1825 || r["auth_events"] != 0 || r["access_events"] != history.DefaultEventRetentionDays || len(r) != len(history.RetentionTables()) {
		t.Errorf("cluster retention %v: want audit 1825, auth_events 0 (forever), access_events %d", r, history.DefaultEventRetentionDays)
	}
}

// attachDistributed puts a Distributed table db.name with columns in place over a cluster that
// does not exist (the embedded engine has none), so reading it fails as a cluster whose shards
// do not answer does. ATTACH with a UUID skips the check of CREATE that the cluster exists.
func attachDistributed(t *testing.T, s *history.Store, db, name, columns string) {
	t.Helper()
	uuid := strs(t, s, `SELECT toString(generateUUIDv4())`)[0][0]
	stmt := fmt.Sprintf("ATTACH TABLE %s.%s UUID '%s' (%s) ENGINE = Distributed('nosuch', %[1]s, %[2]s_local, 0)", db, name, uuid, columns)
	if err := s.Conn().Exec(context.Background(), stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// run runs each statement or fails the test.
func run(t *testing.T, s *history.Store, stmts ...string) {
	t.Helper()
	for _, stmt := range stmts {
		if err := s.Conn().Exec(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

const migrationColumns = "version UInt32, name String, applied DateTime64(3, 'UTC')"

func TestClusterRefusesSingleNodeHistory(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	single := strs(t, s, `SELECT currentDatabase()`)[0][0]
	_, err := s.MaintainCluster(ctx, history.Cluster{Name: "breachd", Database: single}, history.MigrateRequest{})
	if err == nil || !strings.Contains(err.Error(), "single-node history") || !strings.Contains(err.Error(), "auth_events (ReplacingMergeTree)") ||
		!strings.Contains(err.Error(), "audit (MergeTree)") {
		t.Fatalf("MaintainCluster on a single-node history's database: %v, want a refusal naming the single-node history and its tables", err)
	}
	if n := strs(t, s, `SELECT toString(count()) FROM system.tables WHERE database = ? AND name LIKE '%\_local'`, single)[0][0]; n != "0" {
		t.Errorf("%s local tables created after the refusal", n)
	}

	// A cluster's history where a breachd migrate without --cluster made a plain table: the
	// refusal names it and does not call the cluster a single-node history.
	run(t, s, `CREATE DATABASE stray`, `CREATE TABLE stray.evidence (id String) ENGINE = ReplacingMergeTree ORDER BY id`)
	attachDistributed(t, s, "stray", "schema_migrations", migrationColumns)
	attachDistributed(t, s, "stray", "auth_events", "user String")
	_, err = s.MaintainCluster(ctx, history.Cluster{Name: "nosuch", Database: "stray"}, history.MigrateRequest{})
	if err == nil || !strings.Contains(err.Error(), "cluster's history") || !strings.Contains(err.Error(), "evidence (ReplacingMergeTree)") ||
		strings.Contains(err.Error(), "single-node history") {
		t.Fatalf("MaintainCluster on a cluster's history with a plain evidence table: %v, want a refusal naming evidence", err)
	}
}

// TestClusterMigrationZeroOnlyWhenMissing: MaintainCluster creates the database and
// schema_migrations (ON CLUSTER, which the embedded engine refuses: no cluster) only when the
// node has no schema_migrations; one it cannot read is an error before any DDL.
func TestClusterMigrationZeroOnlyWhenMissing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	_, err := s.MaintainCluster(ctx, history.Cluster{Name: "nosuch", Database: "fresh"}, history.MigrateRequest{Show: true})
	if err == nil || !strings.Contains(err.Error(), "migration 0 (the database and schema_migrations) statement 1") {
		t.Fatalf("MaintainCluster on a database that does not exist: %v, want it to run migration 0 (and the embedded engine to refuse ON CLUSTER)", err)
	}

	run(t, s, `CREATE DATABASE unread`)
	attachDistributed(t, s, "unread", "schema_migrations", migrationColumns)
	_, err = s.MaintainCluster(ctx, history.Cluster{Name: "nosuch", Database: "unread"}, history.MigrateRequest{Show: true})
	var ex *clickhouse.Exception
	if err == nil || !strings.Contains(err.Error(), "read schema_migrations") || strings.Contains(err.Error(), "migration 0") || !errors.As(err, &ex) {
		t.Fatalf("MaintainCluster where schema_migrations cannot be read: %v, want the read's ClickHouse error and no migration run", err)
	}
}

func TestClusterPendingMigrations(t *testing.T) {
	ms, err := history.Cluster{Name: "c1", Database: "breachd"}.Migrations(0)
	if err != nil {
		t.Fatal(err)
	}
	all := history.MigrationVersions()
	every := map[int]bool{0: true}
	for _, v := range all {
		every[v] = true
	}
	for _, c := range []struct {
		done map[int]bool
		want []int
	}{
		{nil, all}, // schema_migrations just created
		{map[int]bool{1: true, 2: true, 5: true}, []int{3, 4}}, // the hand-written DDL's cluster
		{every, nil},
	} {
		if got := history.PendingVersions(ms, c.done); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("recorded %v: runs %v, want %v (never version 0)", c.done, got, c.want)
		}
	}
}

// TestMigrateRefusesClusterHistory: the single-node Migrate and retention on a database whose
// tables are Distributed (a cluster's history). Its schema_migrations cannot be read here (no
// cluster), and the refusal says so rather than call the schema behind.
func TestMigrateRefusesClusterHistory(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	db := strs(t, s, `SELECT currentDatabase()`)[0][0]
	run(t, s, `DROP TABLE schema_migrations`, `DROP TABLE audit`)
	attachDistributed(t, s, db, "schema_migrations", migrationColumns)
	attachDistributed(t, s, db, "audit", "time DateTime64(3, 'UTC')")

	_, err := s.Migrate(ctx, 0)
	var ex *clickhouse.Exception
	if err == nil || !strings.Contains(err.Error(), "ClickHouse cluster") || strings.Contains(err.Error(), "behind") || !errors.As(err, &ex) {
		t.Errorf("Migrate on a cluster's history whose schema_migrations cannot be read: %v, want the read error, not 'behind'", err)
	}
	if _, err := s.RetentionNow(ctx); err == nil || !strings.Contains(err.Error(), "audit is a Distributed table") {
		t.Errorf("RetentionNow on a cluster's history: %v, want a refusal naming audit", err)
	}
	if _, err := s.ApplyRetention(ctx, history.Retention{"audit": 10}); err == nil || !strings.Contains(err.Error(), "give breachd migrate --cluster") {
		t.Errorf("ApplyRetention on a cluster's history: %v, want a refusal", err)
	}

	readErr := errors.New("shard 2 did not answer")
	for _, c := range []struct {
		distributed bool
		readErr     error
		want        string // "" no refusal
	}{
		{false, nil, ""},
		{false, readErr, ""}, // a single-node history: Migrate creates schema_migrations and reads again
		{true, nil, "schema is behind"},
		{true, readErr, "could not be read"},
	} {
		err := history.ClusterRefusal(c.distributed, c.readErr)
		switch {
		case c.want == "" && err != nil, c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("Distributed %v, read error %v: %v, want %q", c.distributed, c.readErr, err, c.want)
		case c.readErr != nil && err != nil && (!errors.Is(err, readErr) || strings.Contains(err.Error(), "behind")):
			t.Errorf("Distributed %v, read error %v: %v, want the read error wrapped and no 'behind'", c.distributed, c.readErr, err)
		}
	}
}

func TestClusterStatementShapes(t *testing.T) {
	c := history.Cluster{Name: "c1", Database: "breachd"}
	for stmt, want := range map[string]string{
		`CREATE MATERIALIZED VIEW IF NOT EXISTS v TO t AS SELECT 1`:                                         "is not CREATE TABLE",
		`CREATE TABLE IF NOT EXISTS m (a String) ENGINE = Memory`:                                           "no Replicated form",
		`ALTER TABLE audit ADD COLUMN IF NOT EXISTS x String, MODIFY TTL toDateTime(time) + INTERVAL 1 DAY`: "mixes column changes",
		`ALTER TABLE audit add column IF NOT EXISTS x String, CLEAR COLUMN y`:                               "mixes column changes",
		`ALTER TABLE audit ADD COLUMN IF NOT EXISTS x String, DROP COLUMN IF EXISTS y`:                      "mixes DROP COLUMN",
	} {
		if _, err := c.Statements(stmt); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", stmt, err, want)
		}
	}
	// Column changes reach both tables (the local ones first, the Distributed one first for a
	// drop), in any case; other alterations, and CLEAR COLUMN, the local one only; a dropped
	// table goes with its local table, SYNC (its Keeper path free for a new one).
	for stmt, want := range map[string][]string{
		`ALTER TABLE audit DROP COLUMN IF EXISTS x, drop column IF EXISTS y`: {
			"ALTER TABLE breachd.audit ON CLUSTER 'c1' DROP COLUMN IF EXISTS x, drop column IF EXISTS y",
			"ALTER TABLE breachd.audit_local ON CLUSTER 'c1' DROP COLUMN IF EXISTS x, drop column IF EXISTS y"},
		`ALTER TABLE audit add column IF NOT EXISTS x String, ALTER COLUMN y TYPE UInt64`: {
			"ALTER TABLE breachd.audit_local ON CLUSTER 'c1' add column IF NOT EXISTS x String, ALTER COLUMN y TYPE UInt64",
			"ALTER TABLE breachd.audit ON CLUSTER 'c1' add column IF NOT EXISTS x String, ALTER COLUMN y TYPE UInt64"},
		`ALTER TABLE audit CLEAR COLUMN x IN PARTITION 202601`: {
			"ALTER TABLE breachd.audit_local ON CLUSTER 'c1' CLEAR COLUMN x IN PARTITION 202601"},
		`ALTER TABLE audit MODIFY TTL toDateTime(time) + INTERVAL 1 DAY`: {
			"ALTER TABLE breachd.audit_local ON CLUSTER 'c1' MODIFY TTL toDateTime(time) + INTERVAL 1 DAY"},
		`DROP TABLE IF EXISTS copy`: {
			"DROP TABLE IF EXISTS breachd.copy ON CLUSTER 'c1'", "DROP TABLE IF EXISTS breachd.copy_local ON CLUSTER 'c1' SYNC"},
	} {
		got, err := c.Statements(stmt)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s:\n got  %q, %v\n want %q", stmt, got, err, want)
		}
	}
	for _, bad := range []history.Cluster{{Name: "c'1", Database: "breachd"}, {Name: "c1", Database: "b-d"}, {Name: "", Database: "breachd"}} {
		if _, err := bad.Migrations(0); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if c, err := history.ClusterOf("clickhouse://u:p@ch1:9000/breachd", "c1"); err != nil || c.Database != "breachd" {
		t.Errorf("ClusterOf: %+v, %v", c, err)
	}
}
