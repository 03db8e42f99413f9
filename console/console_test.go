package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newMux(t *testing.T) *http.ServeMux {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Register(mux)
	return mux
}

// TestPagesServeTheShell: every console route answers index.html with the strict CSP.
func TestPagesServeTheShell(t *testing.T) {
	mux := newMux(t)
	for _, p := range []string{"/", "/signin", "/incidents", "/incidents/INC-20261205-0123abcd", "/investigate", "/audit", "/rules", "/register", "/health", "/settings"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<script type="module" src="/assets/app.js">`) {
			t.Errorf("GET %s: %d, not the shell", p, rec.Code)
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != CSP {
			t.Errorf("GET %s: CSP %q", p, got)
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: content type %q", p, rec.Header().Get("Content-Type"))
		}
	}
}

// TestAssets: assets have their types and ETags, revalidate with 304, and nothing outside
// the embedded assets (or index.html under /assets/) is served.
func TestAssets(t *testing.T) {
	mux := newMux(t)
	for path, ctype := range map[string]string{
		"/assets/app.js": "text/javascript", "/assets/core.js": "text/javascript", "/assets/style.css": "text/css",
		"/assets/vendor/uPlot.iife.min.js": "text/javascript", "/assets/pages/incidents.js": "text/javascript",
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), ctype) {
			t.Fatalf("GET %s: %d %q", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		etag := rec.Header().Get("ETag")
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("If-None-Match", etag)
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if etag == "" || rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("GET %s with If-None-Match %s: %d", path, etag, rec.Code)
		}
	}
	for _, path := range []string{"/assets/", "/assets/index.html", "/assets/nosuch.js", "/assets/../console.go",
		"/assets/%2e%2e/console.go", "/assets/pages/../app.js", "/assets//app.js", "/console.go"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code == 200 {
			t.Errorf("GET %s: 200, want it refused", path)
		}
	}
}
