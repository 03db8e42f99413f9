package chdb

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
)

// User is one credential of the endpoint and what it may do. Every user may
// run checked queries (see guard.go) under readonly=1; beyond that:
//   - Insert lists the tables of the endpoint's database the user may
//     append to ("*": all of them). Appending is all: no user of the TCP
//     listener can ALTER, DELETE, TRUNCATE, DROP or change settings, so a
//     table such as audit is append-only for those who may insert into it
//     and read-only for everyone else.
//   - Owner may run any statement (DDL for schema migrations included) and
//     is accepted only on connections made with DialInProcess: its
//     credential is useless on the TCP listener, so it never needs to leave
//     the process.
//   - Interactive marks people's credentials: their queries wait behind the
//     pipeline's statements and get Options.People limits.
type User struct {
	Name, Password string
	Insert         []string
	Owner          bool
	Interactive    bool
}

// mayInsert reports whether u may append to table.
func (u *User) mayInsert(table string) bool {
	return u.Owner || slices.Contains(u.Insert, "*") || slices.Contains(u.Insert, table)
}

// PeopleLimits bound the statements of Interactive users inside the
// engine. Zero values take the defaults noted; a client may ask for lower
// ones, never higher.
type PeopleLimits struct {
	MaxExecutionSeconds int   // max_execution_time; default 30
	MaxMemoryBytes      int64 // max_memory_usage; default 2 GiB
	MaxResultRows       int   // max_result_rows; default 1 000 000
}

func (l PeopleLimits) withDefaults() PeopleLimits {
	if l.MaxExecutionSeconds <= 0 {
		l.MaxExecutionSeconds = 30
	}
	if l.MaxMemoryBytes <= 0 {
		l.MaxMemoryBytes = 2 << 30
	}
	if l.MaxResultRows <= 0 {
		l.MaxResultRows = 1_000_000
	}
	return l
}

// inProcessKey marks requests that came through DialInProcess.
type inProcessKey struct{}

// user returns the user whose credentials r carries, or nil. Owners are
// found only on in-process connections.
func (s *Server) user(r *http.Request) *User {
	name, pass, ok := r.BasicAuth()
	if !ok {
		name, pass = r.Header.Get("X-ClickHouse-User"), r.Header.Get("X-ClickHouse-Key")
	}
	if name == "" && pass == "" {
		q := r.URL.Query()
		name, pass = q.Get("user"), q.Get("password")
	}
	inProcess, _ := r.Context().Value(inProcessKey{}).(bool)
	var found *User
	for i := range s.opts.Users {
		u := &s.opts.Users[i]
		n := subtle.ConstantTimeCompare([]byte(name), []byte(u.Name))
		p := subtle.ConstantTimeCompare([]byte(pass), []byte(u.Password))
		if n&p == 1 && (!u.Owner || inProcess) {
			found = u
		}
	}
	return found
}

// DialInProcess connects to the server without a socket, for clickhouse-go's
// Options.DialContext (the address is ignored). Only such connections
// accept Owner credentials. It fails once the server has stopped.
func (s *Server) DialInProcess(ctx context.Context, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case s.pipe.conns <- server:
		return client, nil
	case <-s.pipe.done:
		return nil, errors.New("chdb server: stopped")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pipeListener is the net.Listener behind DialInProcess.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return inProcessConn{c}, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "in-process" }

// inProcessConn tags connections accepted from the pipeListener.
type inProcessConn struct{ net.Conn }
