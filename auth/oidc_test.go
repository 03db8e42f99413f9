package auth

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	entSOC      = "urn:mace:feide.no:go:group:u:breachd:soc"
	entOrgAdmin = "urn:mace:feide.no:go:group:u:breachd:org-admin"
)

// oidcYAML maps Feide-like claims: entitlements to roles, the realm of the principal name to
// the organisation.
func oidcYAML(issuer string) string {
	return `issuer: ` + issuer + `
client_id: breachd
client_secret: s3cret
scopes: [openid, email]
roles:
  - {claim: eduPersonEntitlement, value: "` + entSOC + `", role: soc}
  - {claim: eduPersonEntitlement, value: "` + entOrgAdmin + `", role: org-admin}
orgs:
  - {claim: eduPersonPrincipalName, pattern: "@(.+)$"}
`
}

// people are the provider's users.
var people = []testUser{
	{ID: "kari", Email: "kari@bergen.kommune.no", Claims: map[string]any{
		"eduPersonEntitlement": []string{"urn:other", entOrgAdmin}, "eduPersonPrincipalName": "kari@Bergen.Kommune.no"}},
	{ID: "sol", Email: "sol@uninett.no", Claims: map[string]any{"eduPersonEntitlement": entSOC}},
	{ID: "per", Email: "per@oslo.kommune.no", Claims: map[string]any{"eduPersonPrincipalName": "per@oslo.kommune.no"}},
	// org-admin by entitlement, but no organisation: refused like no role.
	{ID: "ann", Email: "ann@example.org", Claims: map[string]any{"eduPersonEntitlement": []string{entOrgAdmin}}},
}

const cbDummy = "http://127.0.0.1:9/cb" // a redirect URI for tokens taken directly; never contacted

// oidcEnv starts a provider with clients breachd and other, and a service using it.
func oidcEnv(t *testing.T) (*env, *testProvider) {
	t.Helper()
	var tp *testProvider
	e := newEnvWith(t, func(public string) string {
		tp = startProvider(t, map[string]string{"breachd": "s3cret", "other": "0ther"},
			[]string{public + "/auth/oidc/callback", cbDummy}, people...)
		return oidcYAML(tp.Issuer)
	})
	return e, tp
}

func TestOIDCSignIn(t *testing.T) {
	e, tp := oidcEnv(t)
	if m := e.svc.Methods(); !slices.Equal(m, []string{"local", "oidc"}) {
		t.Errorf("methods %v", m)
	}
	c := e.client(t)
	kari, signedIn := c, e.clock.Now()
	tp.SignInAs("kari")
	resp, err := c.Get(e.srv.URL + "/auth/oidc/login?next=" + url.QueryEscape("/incidents?state=open"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/incidents" || resp.Request.URL.RawQuery != "state=open" {
		t.Fatalf("after sign-in: %d at %s, want 200 at /incidents?state=open", resp.StatusCode, resp.Request.URL)
	}
	st, m, _ := e.do(t, c, "GET", "/api/me", nil)
	p := principalOf(t, m)
	if st != 200 || p.Issuer != tp.Issuer || p.Subject != "kari" || p.Name != "kari@bergen.kommune.no" || p.Via != ViaSession ||
		!slices.Equal(p.Roles, []Role{RoleOrgAdmin}) || !slices.Equal(p.Orgs, []string{"bergen.kommune.no"}) || m["csrf_token"] == "" {
		t.Fatalf("/api/me: %d %+v %v", st, p, m)
	}
	// The session needs its CSRF token for changes, like a local one.
	if st, _, _ := e.do(t, c, "POST", "/api/echo", nil); st != 403 {
		t.Errorf("POST without the CSRF token: %d", st)
	}
	if st, _, _ := e.do(t, c, "POST", "/api/echo", nil, "X-CSRF-Token", m["csrf_token"].(string)); st != 200 {
		t.Errorf("POST with the CSRF token: %d", st)
	}

	// Nobody mapped to a role gets in.
	for _, who := range []string{"per", "ann"} {
		c := e.client(t)
		tp.SignInAs(who)
		resp, err := c.Get(e.srv.URL + "/auth/oidc/login")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(body), `"code":"forbidden"`) || !strings.Contains(string(body), "not given any breachd role") {
			t.Errorf("%s without a role: %d %s, want 403 forbidden", who, resp.StatusCode, body)
		}
		if st, _, _ := e.do(t, c, "GET", "/api/me", nil); st != 401 {
			t.Errorf("%s without a role has a session: %d", who, st)
		}
	}

	// A browser is told so on a page.
	tp.SignInAs("per")
	req, _ := http.NewRequest("GET", e.srv.URL+"/auth/oidc/login", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err = e.client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(page), "not given any breachd role") {
		t.Errorf("no role, in a browser: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}

	// A callback is good once.
	c = e.client(t)
	tp.SignInAs("sol")
	var callback *url.URL
	c.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if r.URL.Path == "/auth/oidc/callback" {
			callback = r.URL
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err = c.Get(e.srv.URL + "/auth/oidc/login")
	if err != nil || callback == nil {
		t.Fatalf("to the callback: %v", err)
	}
	resp.Body.Close()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if st, m, h := e.do(t, c, "GET", callback.RequestURI(), nil); st != 303 || h.Get("Location") != "/" {
		t.Fatalf("callback: %d %v %v", st, m, h)
	}
	replay := stateCookie + "=" + callback.Query().Get("state")
	if st, m, _ := e.do(t, nil, "GET", callback.RequestURI(), nil, "Cookie", replay); st != 400 || errCode(m) != "bad_request" {
		t.Errorf("the callback again, with its state cookie: %d %v, want 400", st, m)
	}

	// A callback without the browser's state cookie (a sign-in started elsewhere) is refused.
	if st, m, _ := e.do(t, nil, "GET", "/auth/oidc/callback?code=x&state=y", nil); st != 400 || errCode(m) != "bad_request" {
		t.Errorf("callback without state: %d %v", st, m)
	}

	// Kari's session, in use all along, ends an hour after sign-in (session_lifetime): the
	// roles the provider gave were read then. (Last: the clock moves for this service.)
	for range 2 {
		e.clock.Add(29 * time.Minute)
		if st, _, _ := e.do(t, kari, "GET", "/api/me", nil); st != 200 {
			t.Fatalf("kari's session %s after sign-in: %d, want 200", e.clock.Now().Sub(signedIn), st)
		}
	}
	e.clock.Add(3 * time.Minute)
	if st, _, _ := e.do(t, kari, "GET", "/api/me", nil); st != 401 {
		t.Errorf("kari's session 61 minutes after sign-in (idle 3 minutes): %d, want 401", st)
	}
}

// The next path cannot send the browser elsewhere.
func TestOIDCOpenRedirect(t *testing.T) {
	e, _ := oidcEnv(t)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, next := range []string{"//evil.example/x", "https://evil.example", `/\evil.example`, "evil.example", "/\r\nSet-Cookie: x=1", "/\t/evil.example", "javascript:alert(1)"} {
		st, m, _ := e.do(t, noFollow, "GET", "/auth/oidc/login?next="+url.QueryEscape(next), nil)
		if st != 400 || errCode(m) != "bad_request" {
			t.Errorf("next %q: %d %v, want 400", next, st, m)
		}
	}
	st, _, h := e.do(t, noFollow, "GET", "/auth/oidc/login?next=/incidents", nil)
	if loc := h.Get("Location"); st != 302 || !strings.Contains(loc, "code_challenge_method=S256") || !strings.Contains(loc, "nonce=") {
		t.Errorf("login redirect: %d %q", st, loc)
	}
}

func TestOIDCBearer(t *testing.T) {
	e, tp := oidcEnv(t)
	bearer := func(tok string) (int, map[string]any) {
		st, m, _ := e.do(t, nil, "GET", "/api/echo", nil, "Authorization", "Bearer "+tok)
		return st, m
	}
	good := tp.IDToken(t, "breachd", "s3cret", cbDummy, "sol")
	st, m := bearer(good)
	if p := principalOf(t, m); st != 200 || p.Via != ViaBearer || p.Subject != "sol" || !slices.Equal(p.Roles, []Role{RoleSOC}) {
		t.Fatalf("ID token as bearer: %d %v", st, m)
	}
	// Another audience: the provider's token for another client.
	if st, m := bearer(tp.IDToken(t, "other", "0ther", cbDummy, "sol")); st != 401 || errCode(m) != "unauthenticated" {
		t.Errorf("another audience: %d %v, want 401", st, m)
	}
	// Another issuer: a second provider with the same client.
	tp2 := startProvider(t, map[string]string{"breachd": "s3cret"}, []string{cbDummy}, people...)
	if st, m := bearer(tp2.IDToken(t, "breachd", "s3cret", cbDummy, "sol")); st != 401 || errCode(m) != "unauthenticated" {
		t.Errorf("another issuer: %d %v, want 401", st, m)
	}
	// No role: refused.
	if st, m := bearer(tp.IDToken(t, "breachd", "s3cret", cbDummy, "per")); st != 403 || errCode(m) != "forbidden" {
		t.Errorf("no role: %d %v, want 403 forbidden", st, m)
	}
	// Expired (the provider's ID tokens live an hour).
	e.clock.Add(61 * time.Minute)
	if st, m := bearer(good); st != 401 {
		t.Errorf("expired ID token: %d %v, want 401", st, m)
	}
}

func TestOIDCConfigFile(t *testing.T) {
	dir := t.TempDir()
	public := mustURL(t, "https://breachd.example")
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("s3cret\n"), 0o600)
	for _, tc := range []struct {
		name, yaml, want string
		mode             os.FileMode
	}{
		{"unknown key", oidcYAML("https://idp.example") + "group_claim: x\n", "field group_claim not found", 0o600},
		{"no issuer", "client_id: x\nroles: [{claim: a, value: b, role: soc}]\n", "issuer", 0o600},
		{"http issuer", oidcYAML("http://idp.example"), "https", 0o600},
		{"no roles", "issuer: https://idp.example\nclient_id: x\n", "roles", 0o600},
		{"unknown role", "issuer: https://idp.example\nclient_id: x\nroles: [{claim: a, value: b, role: boss}]\n", "unknown role", 0o600},
		{"bad pattern", oidcYAML("https://idp.example") + "  - {claim: o, pattern: \"(\"}\n", "orgs[1].pattern", 0o600},
		{"secret in a loose file", oidcYAML("https://idp.example"), "chmod 600", 0o644},
		{"both secrets", oidcYAML("https://idp.example") + "client_secret_file: " + secretFile + "\n", "not both", 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, "oidc.yaml")
			os.WriteFile(f, []byte(tc.yaml), tc.mode)
			os.Chmod(f, tc.mode)
			_, err := LoadOIDCConfig(f, public)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	f := filepath.Join(dir, "ok.yaml")
	os.WriteFile(f, []byte(strings.Replace(oidcYAML("https://idp.example"), "client_secret: s3cret", "client_secret_file: "+secretFile, 1)), 0o644)
	c, err := LoadOIDCConfig(f, public)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientSecret != "s3cret" || c.RedirectURL != "https://breachd.example/auth/oidc/callback" || c.Scopes[0] != "openid" {
		t.Errorf("defaults %+v", c)
	}
	p, err := c.Principal(map[string]any{"sub": "x", "name": "X Y", "eduPersonEntitlement": []any{entSOC, entOrgAdmin},
		"eduPersonPrincipalName": "x@Oslo.kommune.no"}, ViaBearer)
	if err != nil || p.Name != "X Y" || !slices.Equal(p.Roles, []Role{RoleSOC, RoleOrgAdmin}) || !slices.Equal(p.Orgs, []string{"oslo.kommune.no"}) {
		t.Errorf("principal %+v %v", p, err)
	}
	if _, err := c.Principal(map[string]any{"sub": "x", "eduPersonEntitlement": "urn:nothing"}, ViaBearer); !errors.Is(err, ErrNoRole) {
		t.Errorf("no role: %v", err)
	}
}

// A next path that localPath accepts stays on this server, however a browser resolves it.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/incidents?state=open", "//evil.example", `/\evil`, "https://x", "/%2F%2Fx", "/\t/x", "/a/../b"} {
		f.Add(s)
	}
	base := &url.URL{Scheme: "https", Host: "breachd.example", Path: "/"}
	f.Fuzz(func(t *testing.T, next string) {
		if !localPath(next) {
			return
		}
		u, err := url.Parse(next)
		if err != nil {
			t.Fatalf("accepted %q that does not parse: %v", next, err)
		}
		if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme {
			t.Fatalf("accepted %q, which leads to %s", next, r)
		}
	})
}

// A provider that cannot be reached does not stop the server: local sign-in works, OIDC
// answers 503 until the provider answers.
func TestOIDCProviderDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there
	e := newEnvWith(t, func(string) string { return oidcYAML(issuer) })
	if st, _ := e.login(t, e.client(t), "soc1", testPassword); st != 200 {
		t.Errorf("local sign-in: %d", st)
	}
	if st, m, _ := e.do(t, nil, "GET", "/auth/oidc/login", nil); st != 503 || errCode(m) != "unavailable" {
		t.Errorf("oidc login: %d %v, want 503", st, m)
	}
	if st, m, _ := e.do(t, nil, "GET", "/api/me", nil, "Authorization", "Bearer eyJ.x.y"); st != 503 || errCode(m) != "unavailable" {
		t.Errorf("bearer: %d %v, want 503", st, m)
	}
}

// The example files load (with their secret file replaced by one that exists).
func TestOIDCExamples(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"oidc-feide.yaml", "oidc-entra.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name)
		os.WriteFile(f, []byte(strings.ReplaceAll(string(b), "/etc/breachd/oidc-secret", secret)), 0o600)
		c, err := LoadOIDCConfig(f, mustURL(t, "https://breachd.example"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if c.ClientSecret != "s3cret" || len(c.Roles) < 3 || len(c.Orgs) != 1 {
			t.Errorf("%s: %+v", name, c)
		}
	}
	if _, err := LoadOIDCConfig(filepath.Join(dir, "oidc-feide.yaml"), nil); err == nil || !strings.Contains(err.Error(), "redirect_url") {
		t.Errorf("no redirect URL and no public URL: %v", err)
	}
	c, err := LoadOIDCConfig(filepath.Join(dir, "oidc-feide.yaml"), mustURL(t, "https://breachd.example/"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Principal(map[string]any{"sub": "abc", "email": "kari@bergen.kommune.no",
		"https://n.feide.no/claims/eduPersonPrincipalName": "kari@bergen.kommune.no",
		"eduPersonEntitlement":                             []any{"urn:mace:feide.no:go:group:u:breachd-dpo"}}, ViaSession)
	if err != nil || !slices.Equal(p.Roles, []Role{RoleDPO}) || !slices.Equal(p.Orgs, []string{"bergen.kommune.no"}) {
		t.Errorf("a Feide DPO: %+v %v", p, err)
	}
}
