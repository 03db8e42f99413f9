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

// RetentionNow reads the retention the tables have now (0: no TTL). A TTL of another shape than
// the ones ApplyRetention writes is reported as -1.
func (s *Store) RetentionNow(ctx context.Context) (Retention, error) {
	// The names are constants of this package, so they are written into the query.
	names := "'" + strings.Join(RetentionTables(), "','") + "'"
	rows, err := s.conn.Query(ctx, `SELECT name, engine_full FROM system.tables
		WHERE database = currentDatabase() AND name IN (`+names+`)`)
	if err != nil {
		return nil, fmt.Errorf("read table TTLs: %w", err)
	}
	defer rows.Close()
	cur := Retention{}
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			return nil, fmt.Errorf("read table TTLs: %w", err)
		}
		switch m := ttlDays.FindStringSubmatch(engine); {
		case m != nil:
			cur[name], _ = strconv.Atoi(m[2])
		case strings.Contains(engine, " TTL "):
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
// cannot bring back rows already removed.
func (s *Store) ApplyRetention(ctx context.Context, r Retention) ([]string, error) {
	cur, err := s.RetentionNow(ctx)
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
			return ran, fmt.Errorf("retention: table %s does not exist (run migrations first)", t)
		}
		stmt := fmt.Sprintf("ALTER TABLE %s REMOVE TTL", t)
		if d > 0 {
			stmt = fmt.Sprintf("ALTER TABLE %s MODIFY TTL toDateTime(%s) + INTERVAL %d DAY", t, ttlColumns[t], d)
		}
		if err := s.conn.Exec(ctx, stmt); err != nil {
			return ran, fmt.Errorf("set retention of %s to %d days: %w", t, d, err)
		}
		s.log.Info("retention changed", "table", t, "from_days", cur[t], "to_days", d)
		ran = append(ran, stmt)
	}
	return ran, nil
}
