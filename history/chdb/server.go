package chdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options configure a Server. Zero values take the defaults noted.
type Options struct {
	// Addr is the listen address; default "127.0.0.1:0". Only loopback
	// hosts are accepted ("localhost", 127.0.0.0/8, ::1).
	Addr string
	// Users are the credentials accepted and what each may do (at least
	// one; names unique). See User.
	Users []User
	// Database is the database endpoint users are confined to: statements
	// run in it and may not name tables of others (default "default").
	Database string
	// People bounds the statements of Interactive users.
	People PeopleLimits
	// Logger receives request logs at Debug and failures at Warn/Error;
	// default slog.Default(). Passwords and parameter values are never logged.
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body (insert data included), after
	// decompression; default 1 GiB.
	MaxBodyBytes int64
	// QueryTimeout bounds each request, queueing for the engine included;
	// it becomes max_execution_time. Default 5 minutes.
	QueryTimeout time.Duration
	// MaxInFlight bounds requests being served at once (queued ones
	// included); beyond it the endpoint answers 503. Default 64.
	MaxInFlight int
	// TempDir receives insert data staged for FROM INFILE; default the
	// engine's staging directory inside its data directory.
	TempDir string
}

// Server is a loopback-only ClickHouse-compatible HTTP endpoint over an
// Engine. Create it with NewServer, then Listen (optional) and Run.
type Server struct {
	engine   *Engine
	opts     Options
	log      *slog.Logger
	inflight chan struct{}
	srv      *http.Server
	guard    *guard
	pipe     *pipeListener

	mu sync.Mutex
	ln net.Listener
}

// NewServer validates opts and returns a Server that is not yet listening.
func NewServer(engine *Engine, opts Options) (*Server, error) {
	if engine == nil {
		return nil, errors.New("chdb server: nil engine")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if err := checkLoopback(opts.Addr); err != nil {
		return nil, err
	}
	if len(opts.Users) == 0 {
		return nil, errors.New("chdb server: at least one user is required")
	}
	seen := map[string]bool{}
	for _, u := range opts.Users {
		if u.Name == "" || u.Password == "" || seen[u.Name] {
			return nil, fmt.Errorf("chdb server: user %q: every user needs a unique name and a password", u.Name)
		}
		seen[u.Name] = true
	}
	if opts.Database == "" {
		opts.Database = "default"
	}
	opts.People = opts.People.withDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 30
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 5 * time.Minute
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 64
	}
	if opts.TempDir == "" {
		opts.TempDir = engine.staging
	}
	s := &Server{
		engine:   engine,
		opts:     opts,
		log:      opts.Logger.With("component", "history_chdb_http"),
		inflight: make(chan struct{}, opts.MaxInFlight),
		guard:    newGuard(engine, opts.Database),
		pipe:     newPipeListener(),
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       opts.QueryTimeout, // bounds uploading a body

		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			_, in := c.(inProcessConn)
			return context.WithValue(ctx, inProcessKey{}, in)
		},
	}
	return s, nil
}

// checkLoopback refuses listen addresses reachable from other hosts.
// IsLoopback reports whether host (of a listen address) is localhost or a loopback IP.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("chdb server: address %q: %w", addr, err)
	}
	if IsLoopback(host) {
		return nil
	}
	return fmt.Errorf("chdb server: address %q is not loopback; the embedded endpoint only listens on 127.0.0.1, ::1 or localhost", addr)
}

// Listen binds the listen address. After it returns, Addr is valid. Run
// calls it if it was not called before.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("chdb server: already listening")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("chdb server: listen: %w", err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = ln.Close()
		return fmt.Errorf("chdb server: %s resolved to non-loopback %s", s.opts.Addr, ln.Addr())
	}
	s.ln = ln
	return nil
}

// Addr returns the bound "host:port", or "" before Listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Run serves until ctx is cancelled (call it once), then shuts down gracefully (waiting up
// to 10 s for requests in flight) and returns nil. Any other serve failure
// is returned. The Engine is not closed.
func (s *Server) Run(ctx context.Context) error {
	if s.Addr() == "" {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	s.log.Info("serving embedded ClickHouse over HTTP", "addr", ln.Addr().String())
	errc, pipec := make(chan error, 1), make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	go func() { pipec <- s.srv.Serve(s.pipe) }()
	defer func() { <-pipec }() // Shutdown or Close below ends it
	select {
	case err := <-errc:
		_ = s.srv.Close()
		return fmt.Errorf("chdb server: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := s.srv.Shutdown(shutCtx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("chdb server: shutdown: %w", err)
	}
	return nil
}

// ServeHTTP routes "/ping" and "/" (queries); everything else is 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ping":
		_, _ = w.Write([]byte("Ok.\n"))
	case "/", "":
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !r.URL.Query().Has("query") {
			_, _ = w.Write([]byte("Ok.\n")) // as ClickHouse answers a bare GET /
			return
		}
		u := s.user(r)
		if u == nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="breachd history", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, newQueryError(codeAuthFailed, "AUTHENTICATION_FAILED",
				"Authentication failed: password is incorrect, or there is no user with such name"))
			return
		}
		s.serveQuery(w, r, u)
	default:
		http.NotFound(w, r)
	}
}
