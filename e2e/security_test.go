package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"breachd/auth"
)

// sessionCookie is the page's session cookie ("" when it has none).
func (p *page) sessionCookie() string {
	p.t.Helper()
	res, err := chromedp.Call(p.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{p.base}})
	if err != nil {
		p.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == auth.SessionCookie {
			return c.Value
		}
	}
	return ""
}

// setSessionCookie gives the page the session cookie value, as the server would set it.
func (p *page) setSessionCookie(value string) {
	p.t.Helper()
	httpOnly := true
	if _, err := chromedp.Call(p.ctx, network.SetCookie, network.SetCookieParams{Name: auth.SessionCookie, Value: value,
		URL: p.base, Path: "/", HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteLax}); err != nil {
		p.t.Fatalf("set the session cookie: %v", err)
	}
}

// wantSignIn waits until the page is the sign-in page with next naming path.
func (p *page) wantSignIn(path string) {
	p.t.Helper()
	p.until("the sign-in page", `location.pathname === '/signin' && !!document.querySelector('#username')`)
	q, err := url.ParseQuery(strings.TrimPrefix(p.path()[len("/signin"):], "?"))
	if err != nil || q.Get("next") != path {
		p.t.Errorf("sign-in page at %s: want next=%s", p.path(), path)
	}
}

// status is the HTTP status and error code of a same-origin request the page makes with its
// cookie: method, path and a JSON body, with the CSRF token of /api/me when withToken.
func (p *page) status(method, path, body string, withToken bool) (int, string) {
	p.t.Helper()
	token := `''`
	if withToken {
		token = `(await (await fetch('/api/me')).json()).csrf_token`
	}
	r := eval[struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}](p, `(async () => {
		const headers = {'Content-Type': 'application/json', Accept: 'application/json'};
		const token = `+token+`;
		if (token) headers['X-CSRF-Token'] = token;
		const r = await fetch(`+js(path)+`, {method: `+js(method)+`, headers, credentials: 'same-origin', body: `+js(body)+` || undefined});
		const b = await r.json().catch(() => ({}));
		return {status: r.status, code: (b.error && b.error.code) || ''};
	})()`)
	return r.Status, r.Code
}

// TestSignIn: a wrong password is refused on the page (role=alert, no navigation); the right
// one opens the console at the page the user asked for (next), whose navigation shows only
// what the user's roles allow.
func TestSignIn(t *testing.T) {
	in := demo(t)
	p := newPage(t, in)
	p.open("/signin?next=%2Fincidents", "#username")
	if h1 := p.text("main h1"); h1 != "Sign in to breachd" {
		t.Errorf("the sign-in page's heading is %q, want the English text", h1)
	}
	p.typeInto("#username", orgAdmin.name)
	p.typeInto("#password", "not-the-password")
	p.click("form button[type=submit]")
	p.until("the refusal", `!!document.querySelector('#signin-status .error')`)
	if got, refusal := p.path(), p.text("#signin-status"); !strings.HasPrefix(got, "/signin") || !strings.Contains(refusal, "Wrong user name or password") {
		t.Fatalf("a wrong password: at %s, %q", got, refusal)
	}
	p.signInForm("/signin?next=%2Fincidents", in.user(t, orgAdmin))
	if got := p.path(); got != "/incidents" {
		t.Errorf("signed in at %s, want next's /incidents", got)
	}
	nav := p.text("#top nav")
	for _, want := range []string{"Incidents", "Investigate", "Breach register"} {
		if !strings.Contains(nav, want) {
			t.Errorf("the org-admin's navigation lacks %s: %q", want, nav)
		}
	}
	for _, not := range []string{"Audit", "Rules", "Pipeline health"} {
		if strings.Contains(nav, not) {
			t.Errorf("the org-admin's navigation offers %s, which the role does not allow: %q", not, nav)
		}
	}
}

// TestSignInStaysInTheConsole: a next parameter that names another site or a script is not
// followed after signing in: the console opens its start page on its own origin.
func TestSignInStaysInTheConsole(t *testing.T) {
	in := demo(t)
	u := in.user(t, author) // each sign-in counts against the user's rate limit: not the SOC's
	for _, next := range []string{"//example.com/x", "javascript:alert(1)", `/\example.com/`} {
		p := newPage(t, in)
		p.signInForm("/signin?next="+url.QueryEscape(next), u)
		if origin := eval[string](p, `location.origin`); origin != in.url {
			t.Errorf("signing in with next=%s went to %s", next, origin)
		}
	}
}

// TestForgedSessionGoesToSignIn: a session cookie the server never issued (of the right
// length, and of another) leads to the sign-in page, which comes back to the page asked for.
func TestForgedSessionGoesToSignIn(t *testing.T) {
	in := demo(t)
	for _, forged := range []string{base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("x", 32))), "forged"} {
		p := newPage(t, in)
		p.setSessionCookie(forged)
		p.open("/investigate", "")
		p.wantSignIn("/investigate")
		if st, code := p.status("GET", "/api/me", "", false); st != 401 || code != "unauthenticated" {
			t.Errorf("GET /api/me with a forged cookie: %d %s, want 401 unauthenticated", st, code)
		}
	}
}

// TestSignedOutSessionGoesToSignIn: after signing out, the session's cookie (kept by a
// thief, or restored) leads to the sign-in page; the API refuses it.
func TestSignedOutSessionGoesToSignIn(t *testing.T) {
	in := demo(t)
	p := newPage(t, in)
	p.signInForm("/signin", in.user(t, dpoUser)) // a session of its own: it ends it
	old := p.sessionCookie()
	if old == "" {
		t.Fatal("no session cookie after signing in")
	}
	p.click("#top .who button")
	p.until("the sign-in page after signing out", `location.pathname === '/signin'`)
	p.setSessionCookie(old)
	p.open("/rules", "")
	p.wantSignIn("/rules")
	if st, code := p.status("GET", "/api/me", "", false); st != 401 || code != "unauthenticated" {
		t.Errorf("GET /api/me with the signed-out session's cookie: %d %s, want 401 unauthenticated", st, code)
	}
}

// TestExpiredSessionGoesToSignIn: a session idle for longer than the idle timeout (its record
// aged in the sessions bucket, as time would) leads to the sign-in page.
func TestExpiredSessionGoesToSignIn(t *testing.T) {
	in := demo(t)
	p := newPage(t, in)
	p.signInForm("/signin", in.user(t, lead)) // a session of its own: it ages it
	cookie := p.sessionCookie()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := in.proc.JS.KeyValue(ctx, auth.BucketSessions)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(cookie))
	key := "s." + hex.EncodeToString(sum[:])
	e, err := kv.Get(ctx, key)
	if err != nil {
		t.Fatalf("the session's record: %v", err)
	}
	var rec map[string]any
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec["last_seen"]; !ok {
		t.Fatalf("the session record has no last_seen (has the record changed?): %s", e.Value())
	}
	rec["last_seen"] = time.Now().Add(-auth.DefaultIdleTimeout - time.Minute).UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(rec)
	if _, err := kv.Put(ctx, key, b); err != nil {
		t.Fatal(err)
	}
	p.open("/incidents", "")
	p.wantSignIn("/incidents")
}

// TestChangeWithoutCSRFTokenRefused: with a valid session cookie, a change without the
// session's CSRF token is refused (403 csrf); the same request with it is carried out.
func TestChangeWithoutCSRFTokenRefused(t *testing.T) {
	in := demo(t)
	p := newPage(t, in)
	p.signIn(in.user(t, socUser))
	id := eval[string](p, `fetch('/api/incidents?all=true').then(r => r.json()).then(b => b.rows[0].id)`)
	path := "/api/incidents/" + id + "/comment"
	body := `{"step": 2, "text": "e2e: CSRF check"}`
	if st, code := p.status("POST", path, body, false); st != 403 || code != "csrf" {
		t.Errorf("POST %s without the CSRF token: %d %q, want 403 csrf", path, st, code)
	}
	if st, code := p.status("POST", path, body, true); st != 200 {
		t.Errorf("POST %s with the CSRF token: %d %q, want 200 (else the refusal above proves nothing)", path, st, code)
	}
	if st, code := p.status("POST", "/auth/logout", "", false); st != 403 || code != "csrf" {
		t.Errorf("POST /auth/logout without the CSRF token: %d %q, want 403 csrf", st, code)
	}
}

// markup is an account name that would run script if a page put it in as HTML.
const markup = `<img src=x onerror=alert(1)>`

// TestMarkupRendersAsText: an account and an incident summary holding markup (an export by
// such an account opens an incident whose summary names it) are shown as text on the
// incidents list, the incident page, the investigation's results and the audit view: no
// element is made of them, no dialog opens.
func TestMarkupRendersAsText(t *testing.T) {
	in := demo(t)
	actor := in.unique(markup+"-") + "@" + orgBergen
	p := newPage(t, in)
	p.signIn(in.user(t, socUser))
	in.exportIncident(t, orgBergen, actor)
	p.untilFetched("the incident of "+actor, `fetch('/api/incidents?all=true&limit=1000').then(r => r.json()).then(b => b.rows.some(r => r.account === `+js(actor)+`))`)
	p.open("/incidents", "table#incidents")
	row := `[...document.querySelectorAll('table#incidents tr[data-id]')].find(tr => tr.textContent.includes(` + js(actor) + `))`
	p.until("the incident of "+actor+" in the list", `!!`+row)
	noMarkup := func(where string) {
		t.Helper()
		if n := p.count("main img, main svg:not(.u-legend svg), main script, main iframe, main object"); n > 0 {
			t.Errorf("%s: %d elements made of data (img, svg, script, iframe or object)", where, n)
		}
		if !strings.Contains(p.text("main"), markup) {
			t.Errorf("%s does not show the markup as text", where)
		}
	}
	noMarkup("the incidents list")
	id := eval[string](p, row+`.dataset.id`)
	p.click(`table#incidents tr[data-id="` + id + `"] a`)
	p.until("the incident page of "+id, `location.pathname === '/incidents/`+id+`' && !!document.querySelector('#state')`)
	p.waitFor("the timeline", "#timeline")
	noMarkup("the incident page")

	// socUser may look up (soc) and read Bergen's audit log (dpo).
	const layout = "2006-01-02T15:04"
	now := time.Now().In(oslo(t))
	reason := in.unique("e2e: markup check ")
	p.open("/investigate", "form#lookup-form")
	p.lookupIn("access", actor, reason, now.Add(-24*time.Hour).Format(layout), now.Add(time.Hour).Format(layout))
	if p.resultRows("results") == 0 {
		t.Fatalf("the access lookup of %s has no rows (alerts: %q)", actor, p.alertText())
	}
	noMarkup("the investigation's results")
	p.open("/audit", "table#audit")
	p.until("the lookup in the audit view", `[...document.querySelectorAll('table#audit tbody tr')].some(tr => tr.textContent.includes(`+js(reason)+`))`)
	noMarkup("the audit view")
}

// oslo is the time zone of the pages (newPage).
func oslo(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestDownloadNamesCarryNoPath: a download the console names from data (core.js download)
// lands in the download folder under a plain name, whatever path the name holds.
func TestDownloadNamesCarryNoPath(t *testing.T) {
	in := demo(t)
	p := newPage(t, in)
	p.signIn(in.user(t, socUser))
	for _, name := range []string{"../../etc/cron.d/evil.csv", `..\..\evil.csv`, "/tmp/evil.csv", ".bashrc"} {
		p.clearDownloads()
		eval[bool](p, `import('/assets/core.js').then(m => { m.download(`+js(name)+`, 'text/csv', 'a,b\n'); return true; })`)
		got, body := p.downloaded("the download named " + name)
		if got != filepath.Base(got) || strings.ContainsAny(got, `/\`) || strings.HasPrefix(got, ".") || string(body) != "a,b\n" {
			t.Errorf("download named %q saved as %q (%q)", name, got, body)
		}
	}
}

// TestConsoleProblemsAreCaught: what every test checks of its pages (page.broken) is seen:
// an uncaught exception, and an inline style that the console's CSP refuses.
func TestConsoleProblemsAreCaught(t *testing.T) {
	in := demo(t)
	p := newPage(t, in)
	p.open("/signin", "#username")
	eval[bool](p, `(() => {
		setTimeout(() => { throw new Error('e2e: thrown on purpose'); });
		document.body.setAttribute('style', 'color: red');
		return true; })()`)
	for deadline := time.Now().Add(wait); len(p.broken()) < 2 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // the console's messages come as events
	}
	got := strings.Join(p.broken(), "\n")
	for _, want := range []string{"e2e: thrown on purpose", "inline style"} {
		if !strings.Contains(got, want) {
			t.Errorf("the page's problems lack %q:\n%s", want, got)
		}
	}
	p.mu.Lock()
	p.console = nil // seen: not this test's failure
	p.mu.Unlock()
}
