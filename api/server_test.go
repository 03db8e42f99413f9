package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/api"
	"breachd/auth"
)

// TestHeadersAndMetrics: the security headers are on every response (errors and public routes
// too), no-store on /api; the request metrics count by route pattern and status and carry no
// account or incident id.
func TestHeadersAndMetrics(t *testing.T) {
	e := newEnv(t, nil)
	soc := principalName(auth.RoleSOC, bergen)
	id := e.byAccount[accountOf[bergen]].ID
	for _, c := range []struct{ path, principal string }{
		{"/healthz", ""}, {"/api/incidents", soc}, {"/api/incidents/" + id, soc}, {"/api/incidents", ""}, {"/nowhere", soc},
		{"/api/history/logins?account=" + accountOf[bergen] + "&from=1d&reason=metrics", soc},
	} {
		resp, _ := e.do("GET", c.path, c.principal, "")
		h := resp.Header
		for k, v := range map[string]string{
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
		} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", c.path, k, h.Get(k), v)
			}
		}
		if strings.HasPrefix(c.path, "/api/") && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", c.path, h.Get("Cache-Control"))
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain HTTP", c.path)
		}
	}
	_, body := e.do("GET", "/metrics", "", "")
	m := string(body)
	for _, want := range []string{
		`breach_api_requests_total{code="200",route="GET /api/incidents/{id}"} 1`,
		`breach_api_requests_total{code="401",route="GET /api/incidents"} 1`,
		`breach_api_requests_total{code="404",route="unmatched"} 1`,
		`breach_api_request_duration_seconds_count{code="200",route="GET /api/history/{lookup}"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, secret := range []string{id, accountOf[bergen], "kari"} {
		if strings.Contains(m, secret) {
			t.Errorf("metrics show %q", secret)
		}
	}
}

// TestPanicRecovered: a panic is a 500 internal without its text; the server goes on.
func TestPanicRecovered(t *testing.T) {
	h := api.Secure(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("secret detail") }), true)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/incidents", nil))
	if rec.Code != http.StatusInternalServerError || errorCode(rec.Body.Bytes()) != api.CodeInternal || strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("panic: %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("the panic's answer lacks the security headers")
	}
}

// TestServeTLSAndShutdown: api.Serve speaks TLS with HSTS, and returns nil once ctx ends, after
// the request in flight finished.
func TestServeTLSAndShutdown(t *testing.T) {
	cert, key := selfSigned(t)
	started, release := make(chan struct{}), make(chan struct{})
	h := api.Secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "ok")
	}), false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, h, ln, cert, key, slog.New(slog.DiscardHandler)) }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a self-signed test certificate
	base := "https://" + ln.Addr().String()
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Strict-Transport-Security") == "" || resp.TLS == nil {
		t.Errorf("over TLS: HSTS %q, TLS %v", resp.Header.Get("Strict-Transport-Security"), resp.TLS != nil)
	}
	slow := make(chan string, 1)
	go func() {
		resp, err := client.Get(base + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	<-started
	cancel() // shutdown begins with a request in flight
	time.Sleep(50 * time.Millisecond)
	close(release)
	if got := <-slow; got != "ok" {
		t.Errorf("the request in flight at shutdown got %q, want ok", got)
	}
	if err := <-done; err != nil {
		t.Errorf("api.Serve after shutdown: %v", err)
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Error("the server still answers after shutdown")
	}
	if err := api.Serve(context.Background(), h, ln, cert, "", nil); err == nil {
		t.Error("api.Serve with a certificate but no key: no error")
	}
}

// TestNewRequires: api.New names what is missing.
func TestNewRequires(t *testing.T) {
	if _, err := api.New(api.Config{Registry: prometheus.NewRegistry()}); err == nil || !strings.Contains(err.Error(), "Auth") {
		t.Errorf("api.New without an authenticator: %v", err)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key, and returns the files.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
