package history

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// codeTooManyRows is ClickHouse's TOO_MANY_ROWS_OR_BYTES.
const codeTooManyRows = 396

// SQLLimits bounds an operator query.
type SQLLimits struct {
	MaxRows int           // default 10 000
	Timeout time.Duration // default 30 s
}

// Table is a query result: column names and types, and rows of Go values.
type Table struct {
	Columns []string
	Types   []string
	Rows    [][]any
}

// These only give early, friendly messages; they are not the defence. What enforces read-only
// is the database: readonly=1 (below), and on the embedded engine the endpoint's user for
// people, whose statements are checked by ClickHouse's own parser (history/chdb guard.go).
var (
	readOnlyStart = regexp.MustCompile(`(?is)^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b`)
	writesFile    = regexp.MustCompile(`(?is)\bINTO\s+OUTFILE\b`)
)

// ErrNotReadOnly is returned by SQL for statements that could change data.
var ErrNotReadOnly = fmt.Errorf("only read-only statements are allowed (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)")

// SQL runs one read-only statement for an operator. The statement must start with a reading
// keyword, and it runs with readonly=1 so that ClickHouse itself refuses writes and settings
// changes, with max_result_rows and max_execution_time from lim.
func (s *Store) SQL(ctx context.Context, query string, lim SQLLimits) (*Table, error) {
	if lim.MaxRows <= 0 {
		lim.MaxRows = 10000
	}
	if lim.Timeout <= 0 {
		lim.Timeout = 30 * time.Second
	}
	q := strings.TrimRight(strings.TrimSpace(query), ";")
	if !readOnlyStart.MatchString(q) || strings.Contains(q, ";") || writesFile.MatchString(q) {
		return nil, ErrNotReadOnly
	}
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout+5*time.Second)
	defer cancel()
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"readonly":             1,
		"max_result_rows":      lim.MaxRows,
		"result_overflow_mode": "throw",
		"max_execution_time":   int(lim.Timeout.Seconds()),
	}))
	rows, err := s.conn.Query(ctx, q)
	if err != nil {
		var ex *clickhouse.Exception
		if errors.As(err, &ex) && ex.Code == codeTooManyRows {
			return nil, fmt.Errorf("%w (raise the row limit, or add LIMIT or an aggregate)", err)
		}
		return nil, err
	}
	defer rows.Close()
	t := &Table{Columns: rows.Columns()}
	cts := rows.ColumnTypes()
	for _, ct := range cts {
		t.Types = append(t.Types, ct.DatabaseTypeName())
	}
	for rows.Next() {
		ptrs := make([]any, len(cts))
		for i, ct := range cts {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("scan row %d: %w", len(t.Rows)+1, err)
		}
		row := make([]any, len(ptrs))
		for i, p := range ptrs {
			v := reflect.ValueOf(p).Elem()
			if v.Kind() == reflect.Pointer { // Nullable columns scan into pointers
				if v.IsNil() {
					row[i] = nil
					continue
				}
				v = v.Elem()
			}
			row[i] = v.Interface()
		}
		t.Rows = append(t.Rows, row)
	}
	return t, rows.Err()
}

// Counts are the row counts of the main tables (exact: read with FINAL).
type Counts struct {
	Auth, Access, Directory, Alerts, Incidents uint64
}

// Count returns the exact row counts of the event, alert and incident tables.
func (s *Store) Count(ctx context.Context) (Counts, error) {
	var c Counts
	err := s.conn.QueryRow(ctx, `SELECT
		(SELECT count() FROM auth_events FINAL),
		(SELECT count() FROM access_events FINAL),
		(SELECT count() FROM directory_events FINAL),
		(SELECT count() FROM alerts FINAL),
		(SELECT count() FROM incidents FINAL)`).Scan(&c.Auth, &c.Access, &c.Directory, &c.Alerts, &c.Incidents)
	if err != nil {
		return c, fmt.Errorf("count history rows: %w", err)
	}
	return c, nil
}
