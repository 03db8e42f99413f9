package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHealth: breachd health exits 0 on 200 only; a URL that is not http(s) is a usage error.
func TestHealth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	run := func(args ...string) error {
		c := rootCommand()
		c.SetArgs(append([]string{"health"}, args...))
		return c.ExecuteContext(context.Background())
	}
	if err := run(srv.URL + "/healthz"); err != nil {
		t.Errorf("200: %v", err)
	}
	if err := run(srv.URL + "/readyz"); err == nil {
		t.Errorf("503 passed")
	}
	if err := run("127.0.0.1:9464/healthz"); !errors.As(err, new(usageError)) {
		t.Errorf("a URL without a scheme: %v, want a usage error", err)
	}
	srv.Close()
	if err := run(srv.URL + "/healthz"); err == nil {
		t.Errorf("a closed server passed")
	}
}
