package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/auth"
)

// metrics are the server's request metrics, labelled by route pattern and status only (no
// path values, accounts or incident ids).
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// the live incident stream (stream.go)
	streamClients prometheus.Gauge
	streamEvents  prometheus.Counter
	streamDropped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_api_requests_total", Help: "HTTP API requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "breach_api_request_duration_seconds", Help: "HTTP API request duration by route pattern and status code.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "code"}),
		streamClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "breach_api_stream_clients", Help: "Open live incident streams (GET /api/incidents/stream).",
		}),
		streamEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "breach_api_stream_events_total", Help: "Incident changes written to live incident streams (one per stream and change).",
		}),
		streamDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "breach_api_stream_dropped_clients_total", Help: "Live incident streams ended because their client fell behind.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.streamClients, m.streamEvents, m.streamDropped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// count records the requests of next under the label route.
func (s *Server) count(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		t0 := time.Now()
		defer func() {
			code := strconv.Itoa(max(sw.status, http.StatusOK))
			s.metrics.requests.WithLabelValues(route, code).Inc()
			s.metrics.duration.WithLabelValues(route, code).Observe(time.Since(t0).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// secure sets the security headers of every response: a CSP that allows nothing (the API
// serves no pages), no framing, no MIME sniffing, no referrer; no caching of /api and /auth;
// HSTS when the request came over TLS.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/auth/") {
			h.Set("Cache-Control", "no-store")
		}
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// recover turns a panic into 500 internal (no details to the caller; logged with the route).
func (s *Server) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving a request", "method", r.Method, "route", r.Pattern, "panic", v)
				auth.WriteError(w, http.StatusInternalServerError, codeInternal, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// wrap builds a route's handler: metrics, the body limit, authentication (unless public),
// authorization (the route's action), the request timeout, then the route's function, whose
// result is written as JSON (200) or whose error as the JSON error.
func (s *Server) wrap(rt route) http.Handler {
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := auth.FromContext(r.Context())
		if !rt.public {
			if p == nil {
				auth.WriteError(w, http.StatusUnauthorized, codeUnauthenticated, "sign in, or send an API token as Authorization: Bearer")
				return
			}
			if rt.action != "" && !p.May(rt.action) {
				auth.WriteError(w, http.StatusForbidden, codeForbidden, "your roles do not allow "+string(rt.action)+" (see docs/access.md)")
				return
			}
		}
		timeout := s.cfg.Timeout
		if rt.timeout > 0 {
			timeout = rt.timeout
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		r.Body = http.MaxBytesReader(w, r.Body, rt.maxBody)
		v, err := rt.h(w, r.WithContext(ctx), p)
		switch {
		case err != nil:
			s.fail(w, r, err)
		case v != nil:
			writeJSON(w, http.StatusOK, v)
		}
	})
	if !rt.public {
		h = s.cfg.Auth.Authenticate(h)
	}
	return s.count(rt.method+" "+rt.path, h)
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v) // the status is out; a broken connection is the client's
}
