package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"breachd/auth"
	"breachd/history"
	"breachd/notify"
	"breachd/respond"
)

// Authenticator puts the caller's principal into each request's context (auth.NewContext) or
// answers 401 itself, and registers its own handlers (/auth/*). *auth.Service is one.
type Authenticator interface {
	Authenticate(next http.Handler) http.Handler
	// Valid reports whether r's credential still authenticates (a live stream rechecks it
	// at every ping, so it ends soon after its session or token does).
	Valid(r *http.Request) bool
	Register(mux *http.ServeMux)
}

// Config is what a Server serves from. Auth, Incidents, History and Registry are required;
// a route whose dependency is nil answers 503 unavailable.
type Config struct {
	Auth      Authenticator
	Incidents *notify.Incidents
	History   *history.Store // people's store (the operator's rights through the chDB guard)
	// Respond builds the respond engine of deactivate, approve, cancel and reactivate, once,
	// on first use (nil: those routes answer 503).
	Respond  func(context.Context) (*respond.Engine, error)
	JS       jetstream.JetStream // dead letters and the live incident stream (Run); its connection is what /readyz checks
	Rules    []string            // rule pack paths (deploy.LoadRules); empty: the shipped pack
	Users    *auth.Users         // users and tokens (auth.Users); nil: the users routes answer 503
	Registry *prometheus.Registry
	// Console registers the web console's pages and assets (console.Console); nil: no console.
	Console interface{ Register(mux *http.ServeMux) }
	// Status is the configuration status admins see at /api/status (nil: 503).
	Status func(context.Context) any
	// RulesStatus gives the live figures of the detector running in this process (GET
	// /api/rules/status); nil, or false, when no detector runs here.
	RulesStatus func(context.Context) (RulesStatus, bool)
	Log         *slog.Logger
	// Timeout bounds each request's work (default 60 s; a backtest gets BacktestTimeout).
	Timeout time.Duration
	// BacktestTimeout bounds a backtest (default 5 min).
	BacktestTimeout time.Duration
	// StreamPing is how often an idle live incident stream sends a ": ping" comment (default
	// 15 s); StreamMax how long the server keeps one open before it ends it (default 5 min;
	// EventSource reconnects, which authenticates the caller again).
	StreamPing, StreamMax time.Duration
	// StreamClients bounds the live incident streams open at once on this server (default
	// 2000); more are answered 503 until some end.
	StreamClients int
}

// Server is the HTTP API. Build it with New; serve Handler with Serve while Run runs (the live
// incident stream).
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	routes  []route
	handler http.Handler
	hub     *hub // the live incident stream's consumer of INCIDENTS (Run)

	engineMu sync.Mutex // guards engine
	engine   *respond.Engine
}

// New checks cfg, registers the metrics and builds the routes.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Auth == nil:
		return nil, errors.New("api: no authenticator (Config.Auth)")
	case cfg.Incidents == nil:
		return nil, errors.New("api: no incidents (Config.Incidents)")
	case cfg.History == nil:
		return nil, errors.New("api: no history (Config.History)")
	case cfg.Registry == nil:
		return nil, errors.New("api: no metrics registry (Config.Registry)")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.BacktestTimeout <= 0 {
		cfg.BacktestTimeout = 5 * time.Minute
	}
	if cfg.StreamPing <= 0 {
		cfg.StreamPing = 15 * time.Second
	}
	if cfg.StreamClients <= 0 {
		cfg.StreamClients = 2000
	}
	if cfg.StreamMax <= 0 {
		cfg.StreamMax = 5 * time.Minute
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Log.With("component", "api"), metrics: m}
	s.hub = newHub(cfg.JS, cfg.StreamClients, s.log, m)
	s.routes = s.routeTable()
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	cfg.Auth.Register(mux)
	if cfg.Console != nil {
		cfg.Console.Register(mux)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry}))
	mux.Handle("/", s.count("unmatched", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		auth.WriteError(w, http.StatusNotFound, codeNotFound, "no such route (see /api/openapi.json)")
	})))
	s.handler = s.secure(s.recover(mux))
	return s, nil
}

// Handler is everything the server answers: /api/*, /auth/*, /healthz, /readyz, /metrics, and
// the console's pages and /assets/ when Config.Console is set.
func (s *Server) Handler() http.Handler { return s.handler }

// respondEngine is the engine of the deactivation routes, built once (Config.Respond).
func (s *Server) respondEngine(ctx context.Context) (*respond.Engine, error) {
	s.engineMu.Lock()
	defer s.engineMu.Unlock()
	if s.engine != nil {
		return s.engine, nil
	}
	if s.cfg.Respond == nil {
		return nil, &apiError{http.StatusServiceUnavailable, codeUnavailable, "no deactivation engine is configured on this server"}
	}
	eng, err := s.cfg.Respond(ctx)
	if err != nil {
		return nil, fmt.Errorf("respond engine: %w", err)
	}
	s.engine = eng
	return eng, nil
}

// healthz answers 200 while the process runs.
func (s *Server) healthz(http.ResponseWriter, *http.Request, *auth.Principal) (any, error) {
	return map[string]string{"status": "ok"}, nil
}

// readyz answers 200 when NATS is connected and the history answers SELECT 1, else 503
// naming what is not ready.
func (s *Server) readyz(_ http.ResponseWriter, r *http.Request, _ *auth.Principal) (any, error) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	checks := map[string]string{"nats": "ok", "history": "ok"}
	ready := true
	if s.cfg.JS == nil || s.cfg.JS.Conn() == nil || !s.cfg.JS.Conn().IsConnected() {
		checks["nats"], ready = "not connected", false
	}
	var one uint8
	if err := s.cfg.History.Conn().QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		checks["history"], ready = "not answering", false
		s.log.Warn("readiness: history not answering", "err", err)
	}
	if !ready {
		return nil, &apiError{http.StatusServiceUnavailable, codeUnavailable, fmt.Sprintf("not ready: nats %s, history %s", checks["nats"], checks["history"])}
	}
	return map[string]any{"status": "ready", "checks": checks}, nil
}
