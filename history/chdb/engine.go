package chdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ErrClosed is returned by calls on a closed Engine.
var ErrClosed = errors.New("chdb: engine closed")

// DefaultFormat is the output format used when a Request names none.
const DefaultFormat = "TabSeparated"

// Request is one statement run in its own chDB session.
type Request struct {
	// SQL is the statement. A FORMAT clause in it wins over Format.
	SQL string
	// Format is the output format; "" means DefaultFormat.
	Format string
	// Params are values for {name:Type} placeholders, in ClickHouse's
	// escaped text form (as in the HTTP interface's param_name=value).
	// They are bound by the engine, never spliced into SQL.
	Params map[string]string
	// Settings are ClickHouse settings applied to this statement only.
	// Names must be identifiers; values are passed as string literals.
	Settings map[string]string
	// Database, when set, is made current (USE) for this statement.
	Database string
	// ReadOnly runs the statement with readonly=2 (no writes, settings may
	// still change) unless Settings holds readonly itself.
	ReadOnly bool
	// Interactive marks a person's statement: it waits behind every
	// pipeline statement queued for the engine (see turnLock).
	Interactive bool
}

// Result is what a successful statement returns.
type Result struct {
	// Data is the output in the requested format (empty for DDL/INSERT).
	Data []byte
	// RowsWritten counts rows an INSERT wrote.
	RowsWritten uint64
}

// Engine is an embedded ClickHouse (chDB) on one data directory.
//
// All methods are safe for concurrent use; statements run one at a time.
type Engine struct {
	lib     *library
	dataDir string
	staging string   // directory for insert data staged for FROM INFILE
	argv    []*byte  // NUL-terminated {"clickhouse", "--path=DIR", NULL}
	argvBuf [][]byte // keeps argv's strings alive
	turn    turnLock
	primary *uintptr // keeps the engine booted; guarded by turn
}

// cacheBounds are server settings given to the engine at boot: ClickHouse sizes its caches for a
// server of its own (5 GiB each of marks, primary index and skip-index marks, 10 % of RAM at
// most in total), which in breachd shares one process with the pipeline and the NATS server.
// These bounds hold what breachd's tables need many times over: at 100 M events, the marks and
// the primary index of every event table together are some 10 MB.
var cacheBounds = []string{
	"--mark_cache_size=134217728",           // 128 MiB
	"--primary_index_cache_size=134217728",  // 128 MiB
	"--index_mark_cache_size=33554432",      // 32 MiB (the subject bloom filter's marks)
	"--query_condition_cache_size=33554432", // 32 MiB
}

// Open loads the chDB library at libPath (see DefaultLibPath) and boots the
// engine on dataDir, creating it if needed.
//
// chDB allows one data directory per process at a time, and one process per
// data directory: several Engines on the same directory may be open at once,
// but opening another directory requires closing those first. Both cases
// fail with an error that says which applies. Open takes ~0.1–0.3 s the
// first time in a process (and ~200 MB of memory, mostly the library's code); its caches are
// bounded (cacheBounds).
func Open(libPath, dataDir string) (*Engine, error) {
	lib, err := loadLibrary(libPath)
	if err != nil {
		return nil, err
	}
	if err := DetachStdin(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("chdb data dir %q: %w", dataDir, err)
	}
	staging := filepath.Join(dir, "breachd-staging")
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return nil, fmt.Errorf("chdb data dir: %w", err)
	}
	e := &Engine{lib: lib, dataDir: dir, staging: staging}
	for _, a := range append([]string{"clickhouse", "--path=" + dir}, cacheBounds...) {
		b := cstring(a)
		e.argvBuf = append(e.argvBuf, b)
		e.argv = append(e.argv, &b[0])
	}
	e.argv = append(e.argv, nil)
	// Without this chDB installs a crash handler over the Go runtime's.
	lib.setSignals(0)
	conn, err := e.connect()
	if err != nil {
		return nil, err
	}
	e.primary = conn
	return e, nil
}

// DataDir returns the absolute data directory of the engine.
func (e *Engine) DataDir() string { return e.dataDir }

// connect opens a chDB connection (a session) on the engine's data dir.
func (e *Engine) connect() (*uintptr, error) {
	conn := e.lib.connect(int32(len(e.argv)-1), e.argv)
	restoreGoSignals()
	if conn == nil || *conn == 0 {
		return nil, connectError(e.dataDir)
	}
	return conn, nil
}

// Close closes the engine; it waits for a running statement to finish.
// Closing twice returns nil.
func (e *Engine) Close() error {
	_ = e.turn.acquire(context.Background(), false)
	defer e.turn.release()
	if e.primary == nil {
		return nil
	}
	e.lib.closeConn(e.primary)
	restoreGoSignals()
	e.primary = nil
	return nil
}

// Query runs sql and returns its output in format ("" = TabSeparated).
// It is Do with no parameters or settings.
func (e *Engine) Query(ctx context.Context, sql, format string) ([]byte, error) {
	res, err := e.Do(ctx, Request{SQL: sql, Format: format})
	return res.Data, err
}

// Do runs one statement in a fresh session, so SET, USE and temporary
// tables never leak into later statements. Data inline after
// "INSERT ... FORMAT x" is staged in a file first (see insert.go).
//
// It blocks until earlier statements are done or ctx ends; queued
// statements that are not Interactive go first. A deadline on
// ctx becomes the statement's max_execution_time (the lower one wins if
// Settings has it too), because chDB cannot be interrupted from outside.
// Engine failures come back as *QueryError.
func (e *Engine) Do(ctx context.Context, req Request) (Result, error) {
	if err := validateRequest(req); err != nil {
		return Result{}, err
	}
	sql, cleanup, err := stageInline(e.staging, req.SQL)
	if err != nil {
		return Result{}, err
	}
	defer cleanup()
	if err := e.turn.acquire(ctx, req.Interactive); err != nil {
		return Result{}, fmt.Errorf("wait for chdb: %w", err)
	}
	defer e.turn.release()
	if e.primary == nil {
		return Result{}, ErrClosed
	}
	setStmt, err := setStatement(ctx, req)
	if err != nil {
		return Result{}, err
	}
	conn, err := e.connect()
	if err != nil {
		return Result{}, err
	}
	defer func() {
		e.lib.closeConn(conn)
		restoreGoSignals()
	}()
	if req.Database != "" {
		if _, err := e.run(*conn, "USE "+quoteIdent(req.Database), DefaultFormat, nil); err != nil {
			return Result{}, err
		}
	}
	if setStmt != "" {
		if _, err := e.run(*conn, setStmt, DefaultFormat, nil); err != nil {
			return Result{}, err
		}
	}
	format := req.Format
	if format == "" {
		format = DefaultFormat
	}
	return e.run(*conn, sql, format, req.Params)
}

// run executes one statement on conn; the caller holds the turn.
func (e *Engine) run(conn uintptr, sql, format string, params map[string]string) (Result, error) {
	q, f := []byte(sql), []byte(format)
	var r uintptr
	if len(params) == 0 {
		r = e.lib.queryN(conn, q, uintptr(len(q)), f, uintptr(len(f)))
	} else {
		var names, values []*byte
		var nameLens, valueLens []uintptr
		for k, v := range params {
			kb, vb := cstring(k), cstring(v)
			names, nameLens = append(names, &kb[0]), append(nameLens, uintptr(len(k)))
			values, valueLens = append(values, &vb[0]), append(valueLens, uintptr(len(v)))
		}
		r = e.lib.queryParamsN(conn, q, uintptr(len(q)), f, uintptr(len(f)),
			names, nameLens, values, valueLens, uintptr(len(names)))
	}
	restoreGoSignals()
	if r == 0 {
		return Result{}, fmt.Errorf("chdb: query returned no result handle")
	}
	out, written, errText := e.lib.result(r)
	if errText != "" {
		return Result{}, parseQueryError(errText)
	}
	return Result{Data: out, RowsWritten: written}, nil
}

// deadlineSeconds converts a context deadline to max_execution_time.
func deadlineSeconds(ctx context.Context) (float64, bool, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, false, nil
	}
	left := time.Until(dl)
	if left <= 0 {
		return 0, false, fmt.Errorf("chdb: %w", context.DeadlineExceeded)
	}
	return max(left.Seconds(), 0.001), true, nil
}
