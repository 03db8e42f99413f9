package chdb

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

const (
	testUser     = "breachd"
	testPassword = "s3cret-for-tests"
)

// testServer is a running Server over a fresh Engine.
type testServer struct {
	engine *Engine
	srv    *Server
	logs   *logRecorder
}

// startServer starts a Server on a fresh engine; it stops when the test
// ends, and Run must then return nil.
func startServer(tb testing.TB, opts Options) *testServer {
	tb.Helper()
	e := openEngine(tb)
	logs := &logRecorder{}
	opts.Users = append(opts.Users, User{Name: testUser, Password: testPassword, Owner: true})
	opts.Logger = slog.New(logs)
	srv, err := NewServer(e, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			tb.Error("Run did not return after cancel")
		}
	})
	return &testServer{engine: e, srv: srv, logs: logs}
}

// options returns clickhouse-go options for the server's endpoint.
func (ts *testServer) options() *clickhouse.Options {
	return &clickhouse.Options{
		Protocol:    clickhouse.HTTP,
		Addr:        []string{ts.srv.Addr()},
		Auth:        clickhouse.Auth{Username: testUser, Password: testPassword},
		DialContext: ts.srv.DialInProcess, // the owner is accepted in-process only
	}
}

// conn opens a clickhouse-go connection over HTTP.
func (ts *testServer) conn(tb testing.TB) driver.Conn {
	tb.Helper()
	return openConn(tb, ts.options())
}

func openConn(tb testing.TB, opts *clickhouse.Options) driver.Conn {
	tb.Helper()
	conn, err := clickhouse.Open(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	if err := conn.Ping(context.Background()); err != nil {
		tb.Fatalf("ping: %v", err)
	}
	return conn
}

// httpDo sends a plain HTTP request (as curl would) and returns status,
// headers and body.
func (ts *testServer) httpDo(tb testing.TB, method, rawQuery, body string, hdr http.Header, auth bool) (int, http.Header, string) {
	tb.Helper()
	u := url.URL{Scheme: "http", Host: ts.srv.Addr(), Path: "/", RawQuery: rawQuery}
	req, err := http.NewRequest(method, u.String(), strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if auth {
		req.SetBasicAuth(testUser, testPassword)
	}
	res, err := ts.client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

// client is an HTTP client whose connections reach the server in-process,
// where the owner test user is accepted.
func (ts *testServer) client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return ts.srv.DialInProcess(ctx, addr) },
	}}
}

// logRecorder is a slog.Handler that keeps the url_params of every query
// and the users of refused statements.
type logRecorder struct {
	mu      sync.Mutex
	params  [][]string
	refused []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if r.Message == "statement refused" && a.Key == "user" {
			l.mu.Lock()
			l.refused = append(l.refused, a.Value.String())
			l.mu.Unlock()
		}
		if keys, ok := a.Value.Any().([]string); ok && a.Key == "url_params" {
			l.mu.Lock()
			l.params = append(l.params, keys)
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *logRecorder) refusedUsers() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.refused...)
}

func (l *logRecorder) seen() [][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]string(nil), l.params...)
}

// testBase is a recent, whole-second UTC time (inside the events TTL).
func testBase() time.Time { return time.Now().UTC().Add(-time.Hour).Truncate(time.Second) }

// openEngine opens an Engine on a fresh directory and closes it when the
// test ends. A missing library fails the test with the setup instructions.
func openEngine(tb testing.TB) *Engine {
	tb.Helper()
	e, err := Open(DefaultLibPath(), tb.TempDir())
	if errors.Is(err, ErrLibraryMissing) {
		tb.Fatalf("embedded ClickHouse unavailable: %v", err)
	}
	if err != nil {
		tb.Fatalf("open engine: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("close engine: %v", err)
		}
	})
	return e
}
