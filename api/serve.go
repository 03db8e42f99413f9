package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ShutdownTimeout is how long Serve lets requests in flight finish once ctx ends.
const ShutdownTimeout = 15 * time.Second

// Serve serves h on ln until ctx ends, then stops accepting and lets the requests in flight
// finish for up to ShutdownTimeout (then closes what is left). With tlsCert and tlsKey it
// serves HTTPS (TLS 1.2 or later); with neither, plain HTTP (put a TLS-terminating proxy in
// front). It returns nil after a clean shutdown.
func Serve(ctx context.Context, h http.Handler, ln net.Listener, tlsCert, tlsKey string, log *slog.Logger) error {
	if (tlsCert == "") != (tlsKey == "") {
		return errors.New("api: TLS needs both a certificate and a key file")
	}
	if log == nil {
		log = slog.Default()
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      6 * time.Minute, // a backtest may take its 5 minutes
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.With("component", "api").Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
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
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		log.Warn("api: requests still running at shutdown were cut off", "err", err)
		_ = srv.Close()
	}
	<-done // http.ErrServerClosed
	return nil
}
