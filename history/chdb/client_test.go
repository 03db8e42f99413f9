package chdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// (d) engine exceptions reach clickhouse-go as *clickhouse.Exception with
// the server's code and text.
func TestClickHouseGoErrors(t *testing.T) {
	ts := startServer(t, Options{})
	conn := ts.conn(t)
	ctx := context.Background()
	tests := []struct {
		name, sql string
		code      int32
		text      string
	}{
		{"syntax error", "SELEC 1", 62, "Syntax error"},
		{"unknown table", "SELECT * FROM no_such_table", 60, "Unknown table expression identifier 'no_such_table'"},
		{"unknown setting", "SELECT 1 SETTINGS no_such_setting = 1", 115, "no_such_setting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for op, err := range map[string]error{
				"Exec":  conn.Exec(ctx, tt.sql),
				"Query": conn.QueryRow(ctx, tt.sql).Err(),
			} {
				var ex *clickhouse.Exception
				if !errors.As(err, &ex) {
					t.Fatalf("%s: want *clickhouse.Exception, got %T: %v", op, err, err)
				}
				msg := fmt.Sprintf("code: %d", tt.code)
				if ex.Code != tt.code || !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), msg) {
					t.Errorf("%s: code %d, error %q; want code %d containing %q", op, ex.Code, err, tt.code, tt.text)
				}
			}
		})
	}
}

// (e) wrong credentials are rejected with 401 / AUTHENTICATION_FAILED.
func TestClickHouseGoAuthFailure(t *testing.T) {
	ts := startServer(t, Options{})
	opts := ts.options()
	opts.Auth.Password = "wrong"
	conn, err := clickhouse.Open(opts)
	if err == nil {
		defer conn.Close()
		err = conn.Ping(context.Background())
	}
	var httpErr *clickhouse.HTTPError
	var ex *clickhouse.Exception
	if !errors.As(err, &httpErr) || httpErr.StatusCode != 401 || !errors.As(err, &ex) || ex.Code != 516 {
		t.Fatalf("want HTTP 401 with code 516, got %v", err)
	}
}

// (h) a database/sql pool used from many goroutines: statements are
// serialised inside the engine and every caller gets its own answer.
func TestConcurrentQueriesThroughPool(t *testing.T) {
	ts := startServer(t, Options{})
	db := clickhouse.OpenDB(ts.options())
	defer db.Close()
	db.SetMaxOpenConns(8)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE nums (n UInt64) ENGINE = MergeTree ORDER BY n"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO nums SELECT number FROM numbers(1000)"); err != nil {
		t.Fatal(err)
	}
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				lo := uint64(w*100 + i)
				var sum uint64
				err := db.QueryRowContext(ctx, "SELECT sum(n) FROM nums WHERE n >= {lo:UInt64} AND n < {hi:UInt64}",
					clickhouse.Named("lo", lo), clickhouse.Named("hi", lo+10)).Scan(&sum)
				if want := 10*lo + 45; err == nil && sum != want {
					err = fmt.Errorf("worker %d: sum(%d..%d) = %d, want %d", w, lo, lo+9, sum, want)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Compression options of clickhouse-go work end to end (HTTP encodings and
// ClickHouse's own LZ4/ZSTD block compression).
func TestClickHouseGoCompression(t *testing.T) {
	ts := startServer(t, Options{})
	base := ts.conn(t)
	ctx := context.Background()
	if err := base.Exec(ctx, eventsDDL); err != nil {
		t.Fatal(err)
	}
	methods := []clickhouse.CompressionMethod{clickhouse.CompressionGZIP, clickhouse.CompressionDeflate,
		clickhouse.CompressionBrotli, clickhouse.CompressionLZ4, clickhouse.CompressionZSTD}
	rows := genEvents(testBase(), 1000)
	for i, m := range methods {
		t.Run(m.String(), func(t *testing.T) {
			opts := ts.options()
			opts.Compression = &clickhouse.Compression{Method: m}
			conn := openConn(t, opts)
			insertEvents(t, conn, rows)
			var n uint64
			if err := conn.QueryRow(ctx, "SELECT count() FROM events").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if want := uint64((i + 1) * len(rows)); n != want {
				t.Errorf("count %d, want %d", n, want)
			}
			if err := conn.Exec(ctx, "SELEC 1"); err == nil || !strings.Contains(err.Error(), "Syntax error") {
				t.Errorf("error through compression: %v", err)
			}
		})
	}
}
