// PENDING — engineer D's stand-in for engineer C's package api (issue 12). It holds only the
// signatures deploy calls, so that branch i12-wire compiles on its own.
// THE LEAD DELETES THIS FILE AT MERGE; C's files replace it. It serves /healthz and answers
// 501 to everything else.

// Package api is the HTTP API (engineer C).
package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/auth"
	"breachd/history"
	"breachd/notify"
	"breachd/respond"
)

// Config is C's api.Config (preamble contract).
type Config struct {
	Auth      *auth.Service
	Incidents *notify.Incidents
	History   *history.Store
	Respond   func(context.Context) (*respond.Engine, error)
	JS        jetstream.JetStream
	Rules     []string
	Registry  *prometheus.Registry
	Status    func(context.Context) any
	Log       *slog.Logger
}

// Server is C's api.Server.
type Server struct{}

// New is C's api.New.
func New(cfg Config) (*Server, error) { return &Server{}, nil }

// Handler is C's Server.Handler: the stand-in serves /healthz and 501 JSON.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotImplemented)
		_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"the API is pending engineer C's package api"}}` + "\n"))
	})
	return mux
}

// Serve is C's api.Serve: h on ln (TLS when tlsCert is given) until ctx ends, then a graceful
// shutdown.
func Serve(ctx context.Context, h http.Handler, ln net.Listener, tlsCert, tlsKey string, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		if tlsCert != "" {
			done <- srv.ServeTLS(ln, tlsCert, tlsKey)
		} else {
			done <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
