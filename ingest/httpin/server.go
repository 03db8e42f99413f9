package httpin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"breachd/ingest"
)

// Server is the HTTP ingest source. Build it with New; serve it with Run (an ingest.Source) or
// mount Handler in another server.
type Server struct {
	cfg     Config
	tokens  []tokenHash
	sem     chan struct{}
	m       *metrics
	log     *slog.Logger
	failing atomic.Bool // the last hand-off failed (for logging state changes only)
}

type tokenHash struct {
	name string
	hash [32]byte
}

var _ ingest.Source = (*Server)(nil)

// New validates cfg and returns a Server. It refuses a configuration without tokens unless
// cfg.Insecure is set, and then logs a warning.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, sem: make(chan struct{}, cfg.MaxInFlight), m: m,
		log: cfg.Logger.With("component", "ingest.http")}
	for _, t := range cfg.Tokens {
		s.tokens = append(s.tokens, tokenHash{name: t.Name, hash: sha256.Sum256([]byte(t.Secret))})
	}
	if len(s.tokens) == 0 {
		s.log.Warn("HTTP ingest accepts events without authentication: anyone who reaches it can write events", "listen", cfg.Listen)
	}
	return s, nil
}

// Handler returns the routes, submitting to sink:
//
//	POST /v1/events  records as JSON Lines or a JSON array (see the package doc)
//	GET  /healthz    200 while the process serves
//	GET  /readyz     200 when Config.Ready reports no error, else 503 (the error is logged,
//	                 not served)
func (s *Server) Handler(sink ingest.Sink) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/events", s.handlePost(sink))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if s.cfg.Ready != nil {
			if err := s.cfg.Ready(); err != nil {
				// The reason goes to the log, not to whoever can reach the port.
				s.log.Debug("readiness check failed", "err", err)
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, "not ready: the event stream is unavailable\n")
				return
			}
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	return mux
}

// Run listens on Config.Listen and serves until ctx ends (ingest.Source). It then stops
// accepting, lets requests in flight finish their hand-off (bounded by SubmitTimeout plus 5 s)
// and returns nil. An error means the listener could not be opened or serving failed.
func (s *Server) Run(ctx context.Context, sink ingest.Sink) error {
	if s.cfg.Listen == "" {
		return errors.New("http ingest: no listen address configured")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("http ingest: listen: %w", err)
	}
	return s.Serve(ctx, ln, sink)
}

// Serve is Run on a listener the caller opened; it closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener, sink ingest.Sink) error {
	addr := ln.Addr().String()
	srv := &http.Server{
		Handler:           s.Handler(sink),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		// The write deadline counts from the end of the headers, so it covers reading the body
		// and the hand-off too.
		WriteTimeout:   max(s.cfg.ReadTimeout, s.cfg.BodyTimeout) + s.cfg.SubmitTimeout + 5*time.Second,
		IdleTimeout:    s.cfg.IdleTimeout,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:    func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.log.Info("HTTP ingest listening", "addr", addr, "tokens", len(s.tokens))
	if s.cfg.OnListen != nil {
		s.cfg.OnListen(addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http ingest: serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.SubmitTimeout+5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc // http.ErrServerClosed once Serve has returned
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("http ingest: shutdown of %s with requests still in flight: %w", addr, err)
	}
	s.log.Info("HTTP ingest stopped", "addr", addr)
	return nil
}
