package faulttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"

	"breachd/history"
	"breachd/history/chdb"
)

// engine is the embedded ClickHouse engine of the test process: chDB runs once per process
// (history/chdb: one data directory per process), so every scenario shares it and gets a
// database of its own.
var engine struct {
	once sync.Once
	e    *chdb.Engine
	err  error
}

// openEngine opens the test process's engine (once) in workDir.
func openEngine(t *testing.T) *chdb.Engine {
	t.Helper()
	engine.once.Do(func() {
		engine.e, engine.err = chdb.Open(chdb.DefaultLibPath(), filepath.Join(workDir, "chdb"))
	})
	if engine.err != nil {
		t.Fatalf("open the embedded ClickHouse engine (needs libchdb.so: scripts/setup.sh): %v", engine.err)
	}
	return engine.e
}

// database is one scenario's history: a database of the shared engine served on an endpoint of
// its own, reached by the breachd processes through a proxy the test can cut.
type database struct {
	Name string
	// DSN is the writer's, through the proxy (append and read, no DDL), for --clickhouse.
	DSN   string
	Proxy *proxy
	// Store is the owner's connection, in-process (not through the proxy): it applied the
	// schema and reads the results.
	Store *history.Store
}

// newDatabase creates database name in the engine, serves it on loopback, applies breachd's
// schema and puts a proxy in front of the endpoint.
func newDatabase(ctx context.Context, t *testing.T, e *chdb.Engine, name string) *database {
	t.Helper()
	if _, err := e.Query(ctx, "CREATE DATABASE "+name, ""); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	owner, writer := token(t), token(t)
	srv, err := chdb.NewServer(e, chdb.Options{Database: name, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Users: []chdb.User{{Name: "owner", Password: owner, Owner: true}, {Name: "writer", Password: writer, Insert: []string{"*"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(sctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("endpoint of %s: %v", name, err)
		}
	})
	dsn := func(user, pw, host string) string {
		return (&url.URL{Scheme: "http", User: url.UserPassword(user, pw), Host: host, Path: "/" + name}).String()
	}
	store, err := history.OpenDialer(ctx, dsn("owner", owner, srv.Addr()), srv.DialInProcess, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(ctx, 0); err != nil {
		t.Fatalf("migrate %s: %v", name, err)
	}
	// The tables are ReplacingMergeTrees: a merge collapses rows stored twice, and a count
	// without FINAL would then miss them, depending on when merges ran. Without merges every
	// row written is counted.
	for _, table := range countedTables {
		if _, err := e.Query(ctx, "SYSTEM STOP MERGES "+name+"."+table, ""); err != nil {
			t.Fatalf("stop merges of %s.%s: %v", name, table, err)
		}
	}
	p := newProxy(t, srv.Addr())
	return &database{Name: name, DSN: dsn("writer", writer, p.Addr()), Proxy: p, Store: store}
}

// countedTables are the tables whose rows the scenarios count.
var countedTables = []string{"auth_events", "access_events", "directory_events", "alerts", "audit"}

func token(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// proxy forwards TCP connections to an address until it is cut: then it closes every open
// connection and resets new ones at once, as an unreachable ClickHouse would look to a
// client, until it is restored.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	wg.Go(func() { p.serve(&wg) })
	t.Cleanup(func() {
		ln.Close()
		p.cut(true)
		wg.Wait()
	})
	return p
}

// Addr is where clients connect.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

// cut makes the target unreachable (down) or reachable again.
func (p *proxy) cut(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			reset(c)
		}
	}
}

func (p *proxy) serve(wg *sync.WaitGroup) {
	for {
		c, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		wg.Go(func() { p.forward(c) })
	}
}

// forward copies between c and a new connection to the target until either side ends or the
// proxy is cut.
func (p *proxy) forward(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		reset(c)
		return
	}
	p.mu.Unlock()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		reset(c)
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		reset(c)
		reset(up)
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	wg.Go(func() { pipe(up, c) })
	wg.Go(func() { pipe(c, up) })
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
	c.Close()
	up.Close()
}

// reset closes c with a TCP reset (no orderly close: the peer sees "connection reset").
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
