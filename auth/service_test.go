package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"breachd/bus/bustest"
)

// testClock is a clock tests move.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a Service on a real session bucket (embedded NATS), served with a protected
// /api/echo that answers the principal.
type env struct {
	svc   *Service
	srv   *httptest.Server
	clock *testClock
	users string // the users file
}

const testPassword = "correct horse battery"

// newEnv starts a Service without OIDC; newEnvWith with the OIDC file oidcYAML returns
// for the server's public URL. The users file has "soc1" (soc) and "bergen" (org-admin of bergen.kommune.no)
// with testPassword.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

func newEnvWith(t *testing.T, oidcYAML func(public string) string) *env {
	t.Helper()
	bs := bustest.StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := SessionBucket(ctx, bs.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	prefs, err := PrefsBucket(ctx, bs.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &env{clock: &testClock{t: time.Now()}, users: filepath.Join(dir, "users.json")}
	u, err := OpenUsers(e.users)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Add("soc1", []Role{RoleSOC}, nil, testPassword); err != nil {
		t.Fatal(err)
	}
	if err := u.Add("bergen", []Role{RoleOrgAdmin}, []string{"bergen.kommune.no"}, testPassword); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewUnstartedServer(nil)
	public := "http://" + e.srv.Listener.Addr().String()
	cfg := Config{UsersFile: e.users, Sessions: kv, Prefs: prefs, PublicURL: public, Clock: e.clock.Now, Registry: prometheus.NewRegistry()}
	if oidcYAML != nil {
		cfg.OIDCFile = filepath.Join(dir, "oidc.yaml")
		if err := os.WriteFile(cfg.OIDCFile, []byte(oidcYAML(public)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if e.svc, err = New(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.svc.Register(mux)
	mux.Handle("/api/echo", e.svc.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, FromContext(r.Context()))
	})))
	mux.HandleFunc("GET /incidents", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "the console") })
	e.srv.Config.Handler = mux
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

// client is an HTTP client with a cookie jar (a browser without the cross-origin headers).
func (e *env) client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// do sends a request to path with body (JSON-encoded unless a string or nil) and headers
// (key, value, …), and returns the status and the decoded JSON body (nil if none).
func (e *env) do(t *testing.T, c *http.Client, method, path string, body any, headers ...string) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, m, resp.Header
}

// errCode is the error code of a decoded error body.
func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// login signs c in as user with password and returns the status and the CSRF token.
func (e *env) login(t *testing.T, c *http.Client, user, password string) (int, string) {
	t.Helper()
	st, m, _ := e.do(t, c, "POST", "/auth/login", map[string]string{"username": user, "password": password})
	tok, _ := m["csrf_token"].(string)
	return st, tok
}

// principalOf is the principal of a /api/me or /api/echo answer.
func principalOf(t *testing.T, m map[string]any) Principal {
	t.Helper()
	if p, ok := m["principal"]; ok {
		m, _ = p.(map[string]any)
	}
	b, _ := json.Marshal(m)
	var p Principal
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLocalSignIn(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	if st, m, _ := e.do(t, c, "GET", "/api/me", nil); st != 401 || errCode(m) != "unauthenticated" {
		t.Fatalf("before sign-in: %d %v, want 401 unauthenticated", st, m)
	}
	st, m, h := e.do(t, c, "POST", "/auth/login", map[string]string{"username": "bergen", "password": testPassword})
	if st != 200 {
		t.Fatalf("sign-in: %d %v", st, m)
	}
	ck := h.Get("Set-Cookie")
	for _, want := range []string{SessionCookie + "=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(ck, want) {
			t.Errorf("cookie %q lacks %q", ck, want)
		}
	}
	if strings.Contains(ck, "Secure") {
		t.Errorf("cookie %q is Secure over plain http", ck)
	}
	csrf, _ := m["csrf_token"].(string)
	if p := principalOf(t, m); p.Subject != "bergen" || p.Issuer != IssuerLocal || p.Via != ViaSession || len(p.Orgs) != 1 || p.Orgs[0] != "bergen.kommune.no" || !p.Has(RoleOrgAdmin) {
		t.Errorf("sign-in principal %+v", p)
	}
	st, m, _ = e.do(t, c, "GET", "/api/me", nil)
	if st != 200 || m["csrf_token"] != csrf || principalOf(t, m).Subject != "bergen" {
		t.Fatalf("/api/me: %d %v", st, m)
	}

	// Wrong password and unknown user answer alike.
	st1, m1, _ := e.do(t, nil, "POST", "/auth/login", map[string]string{"username": "bergen", "password": "wrong password!"})
	st2, m2, _ := e.do(t, nil, "POST", "/auth/login", map[string]string{"username": "nobody", "password": "wrong password!"})
	if st1 != 401 || st2 != 401 || !equalJSON(m1, m2) {
		t.Errorf("wrong password %d %v, unknown user %d %v: want the same 401", st1, m1, st2, m2)
	}

	// A new password ends the sessions started with the old one.
	other := e.client(t)
	if st, _ := e.login(t, other, "soc1", testPassword); st != 200 {
		t.Fatal(st)
	}
	if err := e.svc.Users().SetPassword("soc1", "a new password"); err != nil {
		t.Fatal(err)
	}
	if st, m, _ := e.do(t, other, "GET", "/api/me", nil); st != 401 {
		t.Errorf("session after a password change: %d %v, want 401", st, m)
	}
	if st, _ := e.login(t, other, "soc1", "a new password"); st != 200 {
		t.Errorf("sign-in with the new password: %d", st)
	}

	// Disabling a user ends their sessions at once, and they cannot sign in.
	if err := e.svc.Users().Disable("bergen"); err != nil {
		t.Fatal(err)
	}
	if st, m, _ := e.do(t, c, "GET", "/api/me", nil); st != 401 {
		t.Errorf("session of a disabled user: %d %v, want 401", st, m)
	}
	if st, m3, _ := e.do(t, nil, "POST", "/auth/login", map[string]string{"username": "bergen", "password": testPassword}); st != 401 || !equalJSON(m3, m1) {
		t.Errorf("disabled user's sign-in: %d %v, want 401 as a wrong password", st, m3)
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestSignInBadInput(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"unknown field", `{"username":"soc1","password":"x","admin":true}`, 400, "unknown_field"},
		{"not json", `username=soc1`, 400, "invalid_json"},
		{"two objects", `{"username":"soc1","password":"x"}{}`, 400, "invalid_json"},
		{"too large", `{"username":"` + strings.Repeat("a", 17<<10) + `","password":"x"}`, 413, "body_too_large"},
		{"empty", `{}`, 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, m, h := e.do(t, nil, "POST", "/auth/login", tc.body)
			if st != tc.status || errCode(m) != tc.code {
				t.Errorf("%d %v, want %d %s", st, m, tc.status, tc.code)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Set-Cookie") != "" {
				t.Errorf("headers %v", h)
			}
		})
	}
}

func TestSignInRateLimit(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		if st, _ := e.login(t, nil, "soc1", "wrong password!"); st != 401 {
			t.Fatalf("attempt %d: %d, want 401", i+1, st)
		}
	}
	st, m, h := e.do(t, nil, "POST", "/auth/login", map[string]string{"username": "soc1", "password": testPassword})
	if st != 429 || errCode(m) != "rate_limited" || h.Get("Retry-After") == "" {
		t.Fatalf("sixth attempt: %d %v Retry-After %q, want 429 rate_limited with Retry-After", st, m, h.Get("Retry-After"))
	}
	for result, want := range map[string]float64{"refused": 5, "rate_limited": 1, "ok": 0} {
		if got := testutil.ToFloat64(e.svc.metrics.signins.WithLabelValues("local", result)); got != want {
			t.Errorf("breach_auth_signins_total{method=local,result=%s} = %v, want %v", result, got, want)
		}
	}
	// Another user from the same address still may (the address allows more).
	if st, _ := e.login(t, nil, "bergen", testPassword); st != 200 {
		t.Errorf("another user: %d, want 200", st)
	}
	e.clock.Add(time.Minute)
	if st, _ := e.login(t, nil, "soc1", testPassword); st != 200 {
		t.Errorf("a minute later: %d, want 200", st)
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	u := e.svc.Users()
	tok, info, err := u.IssueToken("soc1", "ci", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "bd_"+info.ID+"_") || len(tok) < 3+16+1+43 {
		t.Errorf("token %q (id %s)", tok, info.ID)
	}
	if got := info.Expires.Sub(info.Created); got != DefaultTokenTTL {
		t.Errorf("default lifetime %s", got)
	}
	// The secret is base64url: it may hold '_' itself.
	if raw, _ := os.ReadFile(e.users); bytes.Contains(raw, []byte(strings.TrimPrefix(tok, "bd_"+info.ID+"_"))) {
		t.Error("the users file holds the token's secret")
	}
	if _, _, err := u.IssueToken("soc1", "long", 400*24*time.Hour); err == nil {
		t.Error("a token of 400 days was issued")
	}
	bearer := func(tok string) (int, map[string]any) {
		st, m, _ := e.do(t, nil, "POST", "/api/echo", nil, "Authorization", "Bearer "+tok)
		return st, m
	}
	st, m := bearer(tok)
	if p := principalOf(t, m); st != 200 || p.Subject != "soc1" || p.Via != ViaToken || !p.Has(RoleSOC) {
		t.Fatalf("token: %d %v", st, m)
	}
	for name, bad := range map[string]string{
		"wrong secret": tok[:len(tok)-4] + "AAAA", "unknown id": "bd_0000000000000000_" + strings.TrimPrefix(tok, "bd_"+info.ID+"_"),
		"malformed": "bd_x", "not a jwt": "eyJhbGciOi.x.y"} {
		if st, m := bearer(bad); st != 401 || errCode(m) != "unauthenticated" {
			t.Errorf("%s: %d %v, want 401", name, st, m)
		}
	}

	// Expired.
	short, _, err := u.IssueToken("soc1", "short", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := bearer(short); st != 200 {
		t.Fatalf("fresh token: %d", st)
	}
	e.clock.Add(time.Hour)
	if st, _ := bearer(short); st != 401 {
		t.Errorf("expired token: %d, want 401", st)
	}

	// Revoked, by another process: within the reload interval.
	other, err := OpenUsers(e.users)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.RevokeToken(info.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, func() int { st, _ := bearer(tok); return st }, 401, "revoked token")
	if got := u.Tokens(); len(got) != 2 || !got[0].Revoked || got[1].Revoked {
		t.Errorf("tokens %+v", got)
	}

	// A disabled user's token.
	t2, _, err := u.IssueToken("bergen", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := bearer(t2); st != 200 {
		t.Fatalf("bergen's token: %d", st)
	}
	if err := other.Disable("bergen"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, func() int { st, _ := bearer(t2); return st }, 401, "token of a disabled user")
}

// waitStatus waits (up to 10 s) for get to answer want: a change another process made to
// the users file is seen within the reload interval.
func waitStatus(t *testing.T, get func() int, want int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := get()
		if st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want %d", what, st, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSessionTimeouts(t *testing.T) {
	e := newEnv(t)
	me := func(c *http.Client) (int, map[string]any) {
		st, m, _ := e.do(t, c, "GET", "/api/me", nil)
		return st, m
	}

	// Idle: active every 20 minutes keeps it; 30 minutes idle ends it.
	c := e.client(t)
	if st, _ := e.login(t, c, "soc1", testPassword); st != 200 {
		t.Fatal(st)
	}
	for range 3 {
		e.clock.Add(20 * time.Minute)
		if st, m := me(c); st != 200 {
			t.Fatalf("active session: %d %v", st, m)
		}
	}
	e.clock.Add(30 * time.Minute)
	if st, m := me(c); st != 401 || errCode(m) != "unauthenticated" {
		t.Errorf("idle session: %d %v, want 401", st, m)
	}

	// Absolute: 12 hours, however active.
	c = e.client(t)
	if st, _ := e.login(t, c, "soc1", testPassword); st != 200 {
		t.Fatal(st)
	}
	for i := 0; i < 12*3-1; i++ {
		e.clock.Add(20 * time.Minute)
		if st, m := me(c); st != 200 {
			t.Fatalf("after %s: %d %v", time.Duration(i+1)*20*time.Minute, st, m)
		}
	}
	e.clock.Add(20 * time.Minute)
	if st, _ := me(c); st != 401 {
		t.Errorf("after 12 h: %d, want 401", st)
	}

	// Forged cookies: well-formed and not.
	for _, v := range []string{randomText(32), "x", strings.Repeat("A", 43)} {
		st, m, _ := e.do(t, nil, "GET", "/api/me", nil, "Cookie", SessionCookie+"="+v)
		if st != 401 || errCode(m) != "unauthenticated" || strings.Contains(strings.ToLower(m["error"].(map[string]any)["message"].(string)), "forged") {
			t.Errorf("forged cookie %q: %d %v", v, st, m)
		}
	}

	// Sign-out ends the session for good.
	c = e.client(t)
	_, csrf := e.login(t, c, "soc1", testPassword)
	stolen := c.Jar.Cookies(mustURL(t, e.srv.URL))[0].Value
	withCookie := httptest.NewRequest("GET", "/api/incidents/stream", nil)
	withCookie.Header.Set("Cookie", SessionCookie+"="+stolen)
	if !e.svc.Valid(withCookie) {
		t.Error("Valid: false for a session signed in")
	}
	if st, _, _ := e.do(t, c, "POST", "/auth/logout", nil); st != 403 {
		t.Errorf("sign-out without the CSRF token: %d, want 403", st)
	}
	if st, _, _ := e.do(t, c, "POST", "/auth/logout", nil, "X-CSRF-Token", csrf); st != 204 {
		t.Errorf("sign-out: %d, want 204", st)
	}
	if st, _, _ := e.do(t, nil, "GET", "/api/me", nil, "Cookie", SessionCookie+"="+stolen); st != 401 {
		t.Errorf("the cookie after sign-out: %d, want 401", st)
	}
	if e.svc.Valid(withCookie) {
		t.Error("Valid: true for a session signed out (a live stream would outlive it)")
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	_, csrf := e.login(t, c, "soc1", testPassword)
	for _, tc := range []struct {
		name    string
		c       *http.Client
		method  string
		headers []string
		status  int
	}{
		{"GET needs no token", c, "GET", nil, 200},
		{"POST without token", c, "POST", nil, 403},
		{"DELETE with a wrong token", c, "DELETE", []string{"X-CSRF-Token", csrf + "x"}, 403},
		{"PATCH with the token", c, "PATCH", []string{"X-CSRF-Token", csrf}, 200},
		{"cross-site POST with the token", c, "POST", []string{"X-CSRF-Token", csrf, "Sec-Fetch-Site", "cross-site"}, 403},
		{"POST from another origin", c, "POST", []string{"X-CSRF-Token", csrf, "Origin", "https://evil.example"}, 403},
		{"same-origin POST with the token", c, "POST", []string{"X-CSRF-Token", csrf, "Sec-Fetch-Site", "same-origin"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, m, _ := e.do(t, tc.c, tc.method, "/api/echo", nil, tc.headers...)
			if st != tc.status || (st == 403 && errCode(m) != "csrf") {
				t.Errorf("%d %v, want %d", st, m, tc.status)
			}
		})
	}
	// A token carries no ambient credential: no CSRF token needed.
	tok, _, err := e.svc.Users().IssueToken("soc1", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if st, m, _ := e.do(t, nil, "POST", "/api/echo", nil, "Authorization", "Bearer "+tok); st != 200 {
		t.Errorf("token POST: %d %v", st, m)
	}
	// Signing in from another site is refused too.
	st, m, _ := e.do(t, nil, "POST", "/auth/login", map[string]string{"username": "soc1", "password": testPassword}, "Sec-Fetch-Site", "cross-site")
	if st != 403 || errCode(m) != "csrf" {
		t.Errorf("cross-site sign-in: %d %v", st, m)
	}
}

// Behind https the cookie is Secure, whatever the hop to the server.
func TestSecureCookie(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	svc, err := New(ctx, Config{UsersFile: e.users, Sessions: e.svc.kv, Prefs: e.svc.prefs, PublicURL: "https://breachd.example", Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/auth/login", strings.NewReader(`{"username":"soc1","password":"`+testPassword+`"}`))
	mux.ServeHTTP(rec, req)
	if ck := rec.Header().Get("Set-Cookie"); rec.Code != 200 || !strings.Contains(ck, "Secure") || !strings.Contains(ck, "HttpOnly") {
		t.Errorf("%d, cookie %q: want Secure", rec.Code, ck)
	}
	// A longer absolute timeout than the bucket keeps sessions is refused.
	if _, err := New(ctx, Config{UsersFile: e.users, Sessions: e.svc.kv, Prefs: e.svc.prefs, AbsoluteTimeout: 24 * time.Hour}); err == nil || !strings.Contains(err.Error(), "TTL") {
		t.Errorf("absolute timeout past the bucket's TTL: %v", err)
	}
}

// Sessions live in the bucket: a second server (behind the same load balancer) knows them,
// and the bucket holds no cookie.
func TestSessionsShared(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	if st, _ := e.login(t, c, "bergen", testPassword); st != 200 {
		t.Fatal(st)
	}
	cookie := c.Jar.Cookies(mustURL(t, e.srv.URL))[0].Value
	ctx := context.Background()
	b, err := New(ctx, Config{UsersFile: e.users, Sessions: e.svc.kv, Prefs: e.svc.prefs, Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/me", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
	mux := http.NewServeMux()
	b.Register(mux)
	mux.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"subject":"bergen"`) {
		t.Errorf("the other server: %d %s", rec.Code, rec.Body)
	}
	keys, err := e.svc.kv.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		v, err := e.svc.kv.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(k, cookie) || bytes.Contains(v.Value(), []byte(cookie)) {
			t.Errorf("bucket entry %s holds the cookie", k)
		}
	}
	if len(keys) != 1 || keys[0] != sessionKey(cookie) {
		t.Errorf("keys %v", keys)
	}
}
