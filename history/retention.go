package history

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Retention is how long each table keeps its rows, in days, enforced by a ClickHouse TTL on
// the column ttlColumns names. 0 keeps rows forever (no TTL). Tables not in the map keep their
// current TTL.
type Retention map[string]int

// ttlColumns are the tables whose retention can be set, and the time column their TTL reads.
var ttlColumns = map[string]string{
	"auth_events":      "time",
	"access_events":    "time",
	"directory_events": "time",
	"alerts":           "detected",
	"incidents":        "updated",
	"audit":            "time",
}

// DefaultRetention keeps login and access events for DefaultEventRetentionDays and everything
// else forever: the directory history rebuilds the detector's directory on start, the breach
// register (alerts, incidents) must be kept (GDPR Art. 33(5)), and the audit log is the record
// of who looked at whose history.
func DefaultRetention() Retention {
	return Retention{"auth_events": DefaultEventRetentionDays, "access_events": DefaultEventRetentionDays,
		"directory_events": 0, "alerts": 0, "incidents": 0, "audit": 0}
}

// RetentionTables lists the tables whose retention can be set.
func RetentionTables() []string { return slices.Sorted(maps.Keys(ttlColumns)) }

// Set parses "table=days" (days 0 = forever) into r. It implements flag.Value with String.
func (r Retention) Set(spec string) error {
	table, days, ok := strings.Cut(spec, "=")
	if !ok {
		return fmt.Errorf("retention %q: want table=days, e.g. auth_events=400", spec)
	}
	table = strings.TrimSpace(table)
	if _, known := ttlColumns[table]; !known {
		return fmt.Errorf("retention %q: unknown table %q (tables: %s)", spec, table, strings.Join(RetentionTables(), ", "))
	}
	n, err := strconv.Atoi(strings.TrimSpace(days))
	if err != nil || n < 0 || n > 100*366 {
		return fmt.Errorf("retention %q: days must be a whole number from 0 (keep forever) to 36600", spec)
	}
	r[table] = n
	return nil
}

// Type names the value in flag usage (pflag.Value).
func (r Retention) Type() string { return "table=days" }

// String lists r as table=days, sorted.
func (r Retention) String() string {
	parts := make([]string, 0, len(r))
	for _, t := range RetentionTables() {
		if d, ok := r[t]; ok {
			parts = append(parts, fmt.Sprintf("%s=%d", t, d))
		}
	}
	return strings.Join(parts, ",")
}

// ttlDays matches the TTL ClickHouse shows in system.tables.engine_full for the TTLs written
// here ("TTL toDateTime(time) + toIntervalDay(400)").
var ttlDays = regexp.MustCompile(`\bTTL toDateTime\((\w+)\) \+ toIntervalDay\((\d+)\)`)

// tableLayout is where the tables whose retention is kept are, and how statements name them:
// the single-node tables of the connection's database, or a Cluster's local tables.
type tableLayout struct {
	database  string // SQL expression of the database
	prefix    string // of the table names in statements
	suffix    string // of the table names ("_local" on a cluster)
	onCluster string // the ON CLUSTER clause of statements
}

// singleNode is the layout of a single-node history.
var singleNode = tableLayout{database: "currentDatabase()"}

// RetentionNow reads the retention the tables have now (0: no TTL). A TTL of another shape than
// the ones ApplyRetention writes is reported as -1.
func (s *Store) RetentionNow(ctx context.Context) (Retention, error) {
	return s.retentionNow(ctx, singleNode)
}

// retentionNow reads the retention of the tables of l. A single-node layout over a cluster's
// Distributed tables is refused.
func (s *Store) retentionNow(ctx context.Context, l tableLayout) (Retention, error) {
	// The names are constants of this package, so they are written into the query.
	names := make([]string, 0, len(ttlColumns))
	for _, t := range RetentionTables() {
		names = append(names, quote(t+l.suffix))
	}
	rows, err := s.conn.Query(ctx, `SELECT name, engine, engine_full FROM system.tables
		WHERE database = `+l.database+` AND name IN (`+strings.Join(names, ",")+`)`)
	if err != nil {
		return nil, fmt.Errorf("read table TTLs: %w", err)
	}
	defer rows.Close()
	cur := Retention{}
	for rows.Next() {
		var name, engine, full string
		if err := rows.Scan(&name, &engine, &full); err != nil {
			return nil, fmt.Errorf("read table TTLs: %w", err)
		}
		if engine == "Distributed" && l.onCluster == "" {
			return nil, fmt.Errorf("retention: %s is a Distributed table of a ClickHouse cluster, whose TTLs are its local tables': "+
				"give breachd migrate --cluster NAME", name)
		}
		name = strings.TrimSuffix(name, l.suffix)
		switch m := ttlDays.FindStringSubmatch(full); {
		case m != nil:
			cur[name], _ = strconv.Atoi(m[2])
		case strings.Contains(full, " TTL "):
			cur[name] = -1
		default:
			cur[name] = 0
		}
	}
	return cur, rows.Err()
}

// ApplyRetention changes the TTL of every table whose retention in r differs from what it has
// now, and returns the statements it ran. Rows older than a shortened retention are removed by
// ClickHouse in the background, when it merges (materialize_ttl_after_modify); a lengthened one
// cannot bring back rows already removed. On a cluster's history RetentionNow and
// ApplyRetention refuse: the TTLs are the local tables' (MaintainCluster).
func (s *Store) ApplyRetention(ctx context.Context, r Retention) ([]string, error) {
	return s.applyRetention(ctx, r, singleNode)
}

func (s *Store) applyRetention(ctx context.Context, r Retention, l tableLayout) ([]string, error) {
	cur, err := s.retentionNow(ctx, l)
	if err != nil {
		return nil, err
	}
	want := Retention{}
	for t, d := range r {
		if _, ok := ttlColumns[t]; !ok {
			return nil, fmt.Errorf("retention: unknown table %q", t)
		}
		want[t] = d
	}
	var ran []string
	for _, t := range RetentionTables() {
		d, ok := want[t]
		if !ok || cur[t] == d {
			continue
		}
		if _, exists := cur[t]; !exists {
			return ran, fmt.Errorf("retention: table %s%s does not exist (run migrations first)", t, l.suffix)
		}
		stmt := l.retentionStatement(t, d)
		if err := s.conn.Exec(ctx, stmt); err != nil {
			return ran, fmt.Errorf("set retention of %s to %d days: %w", t, d, err)
		}
		s.log.Info("retention changed", "table", t+l.suffix, "from_days", cur[t], "to_days", d)
		ran = append(ran, stmt)
	}
	return ran, nil
}

// retentionStatement sets the retention of table t of l to d days (0: forever).
func (l tableLayout) retentionStatement(t string, d int) string {
	if d == 0 {
		return fmt.Sprintf("ALTER TABLE %s%s%s%s REMOVE TTL", l.prefix, t, l.suffix, l.onCluster)
	}
	return fmt.Sprintf("ALTER TABLE %s%s%s%s MODIFY TTL toDateTime(%s) + INTERVAL %d DAY", l.prefix, t, l.suffix, l.onCluster, ttlColumns[t], d)
}
