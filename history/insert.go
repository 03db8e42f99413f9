package history

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// column is one column of an insert: its name and how to read its values from the rows.
type column[T any] struct {
	name   string
	values func(rows []T) any // a slice of the column's Go type, one value per row
}

// col is the column name whose value of row r is v(r).
func col[T, V any](name string, v func(T) V) column[T] {
	return column[T]{name: name, values: func(rows []T) any {
		out := make([]V, len(rows))
		for i, r := range rows {
			out[i] = v(r)
		}
		return out
	}}
}

// insert writes rows into table as one batch, column by column (no per-row []any), and returns
// nil only when ClickHouse accepted it.
func insert[T any](ctx context.Context, s *Store, table string, cols []column[T], rows []T) error {
	if len(rows) == 0 {
		return nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	types, err := s.types.of(ctx, s, table, names)
	if err != nil {
		return err
	}
	// Over HTTP, clickhouse-go would otherwise DESCRIBE the table before every batch.
	batch, err := s.conn.PrepareBatch(clickhouse.Context(ctx, clickhouse.WithColumnNamesAndTypes(types)),
		"INSERT INTO "+table+" ("+strings.Join(names, ", ")+")")
	if err != nil {
		s.types.forget(table)
		return fmt.Errorf("prepare insert into %s: %w", table, err)
	}
	defer batch.Abort() //nolint:errcheck // no-op after Send
	for i, c := range cols {
		if err := batch.Column(i).Append(c.values(rows)); err != nil {
			return fmt.Errorf("append %s to %s: %w", c.name, table, err)
		}
	}
	if err := batch.Send(); err != nil {
		s.types.forget(table) // a changed table is described again on the next try
		return fmt.Errorf("insert %d rows into %s: %w", len(rows), table, err)
	}
	return nil
}

// columnTypes caches the ClickHouse type of every column of the tables written, described once
// per table (and again after a failed insert, or when a column is not known yet: a migration
// may have added it).
type columnTypes struct {
	mu     sync.Mutex
	tables map[string]map[string]string // table → column → type
}

// of returns the names and types of columns of table, in order.
func (c *columnTypes) of(ctx context.Context, s *Store, table string, columns []string) ([]clickhouse.ColumnNameAndType, error) {
	c.mu.Lock()
	known := c.tables[table]
	c.mu.Unlock()
	out, ok := typed(known, columns)
	if ok {
		return out, nil
	}
	known, err := describe(ctx, s, table)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.tables == nil {
		c.tables = map[string]map[string]string{}
	}
	c.tables[table] = known
	c.mu.Unlock()
	if out, ok = typed(known, columns); !ok {
		return nil, fmt.Errorf("insert into %s: a column of %s is missing from the table (run migrations first)", table, strings.Join(columns, ", "))
	}
	return out, nil
}

func (c *columnTypes) forget(table string) {
	c.mu.Lock()
	delete(c.tables, table)
	c.mu.Unlock()
}

func typed(known map[string]string, columns []string) ([]clickhouse.ColumnNameAndType, bool) {
	out := make([]clickhouse.ColumnNameAndType, len(columns))
	for i, name := range columns {
		t, ok := known[name]
		if !ok {
			return nil, false
		}
		out[i] = clickhouse.ColumnNameAndType{Name: name, Type: t}
	}
	return out, true
}

// describe reads the column types of table.
func describe(ctx context.Context, s *Store, table string) (map[string]string, error) {
	rows, err := s.conn.Query(ctx, "DESCRIBE TABLE "+table)
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", table, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, typ, ignore string
		if err := rows.Scan(&name, &typ, &ignore, &ignore, &ignore, &ignore, &ignore); err != nil {
			return nil, fmt.Errorf("describe %s: %w", table, err)
		}
		out[name] = typ
	}
	return out, rows.Err()
}
