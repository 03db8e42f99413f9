package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// setupHint is what a test that lacks a tool says.
const setupHint = "run scripts/setup.sh"

// wait bounds every wait for the page (a selector, a condition); the demo instance and the
// browser run on the same 2 cores as the test.
const wait = 30 * time.Second

// chromiumPath is the browser the tests drive: $BREACHD_CHROMIUM, else Debian's chromium.
func chromiumPath() string {
	if p := os.Getenv("BREACHD_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// artifactsDir is where the artifacts of test name go: $BREACHD_TEST_ARTIFACTS/<test>, by
// default <temp dir>/breachd-browser-artifacts/<test>.
func artifactsDir(name string) string {
	root := os.Getenv("BREACHD_TEST_ARTIFACTS")
	if root == "" {
		root = filepath.Join(os.TempDir(), "breachd-browser-artifacts")
	}
	return filepath.Join(root, regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(name, "_"))
}

// The browser of this test binary: one headless chromium; each page (test) gets its own
// browser context (cookies, storage, downloads).
var chrome struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

func startChrome() (context.Context, error) {
	chrome.once.Do(func() {
		if _, err := os.Stat(chromiumPath()); err != nil {
			chrome.err = fmt.Errorf("no browser at %s (%v): %s, or set BREACHD_CHROMIUM", chromiumPath(), err, setupHint)
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromiumPath()),
			chromedp.NoSandbox, chromedp.DisableGPU, // --headless and --disable-background-networking are defaults
			chromedp.WindowSize(1280, 800),
			chromedp.Flag("lang", "en-GB"),
		)
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(alloc)
		chrome.ctx, chrome.cancel = ctx, func() {
			_ = chromedp.Cancel(ctx) // closes the browser gracefully (killed, it leaves its temp folders)
			cancel()
			cancelAlloc()
		}
		if err := chromedp.Do(ctx); err != nil { // starts the browser (no timeout: it would stop it)
			chrome.err = fmt.Errorf("start %s: %w", chromiumPath(), err)
		}
	})
	return chrome.ctx, chrome.err
}

// page is one browser tab of a test, in a browser context of its own, with what it logged.
type page struct {
	t         *testing.T
	n         int // of the test's pages, from 1
	ctx       context.Context
	base      string // the demo instance's URL
	downloads string // where downloads go

	mu      sync.Mutex
	console []string // console messages, exceptions and browser log entries
	dialogs []string // JavaScript dialogs (alert, confirm, prompt): each one fails the test
}

// pages counts the pages each test opened, to keep their artifacts apart.
var (
	pagesMu sync.Mutex
	pages   = map[*testing.T]int{}
)

// newPage opens a tab on the demo instance in a fresh browser context (no cookies), with the
// time zone Europe/Oslo and downloads into a temporary folder. When the test fails, the tab's
// screenshot and console log are kept (see artifactsDir).
func newPage(t *testing.T, in *instance) *page {
	t.Helper()
	bctx, err := startChrome()
	if err != nil {
		t.Fatalf("the browser tests need Chromium: %v", err)
	}
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	var readers sync.WaitGroup // of the console and the dialogs: they end with ctx
	t.Cleanup(func() { cancel(); readers.Wait() })
	pagesMu.Lock()
	pages[t]++
	n := pages[t]
	pagesMu.Unlock()
	p := &page{t: t, n: n, ctx: ctx, base: in.url, downloads: t.TempDir()}
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		t.Fatalf("open a tab: %v", err)
	}
	console := chromedp.Console(ctx)
	dialogs := chromedp.Events(ctx, cdppage.JavascriptDialogOpening)
	readers.Go(func() {
		for m, err := range console {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, fmt.Sprintf("%s %s %s:%d %s", m.Time.Format("15:04:05.000"), m.Type, m.URL, m.Line+1, m.String()))
			p.mu.Unlock()
		}
	})
	readers.Go(func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.dialogs = append(p.dialogs, fmt.Sprintf("%s: %q", ev.Type, ev.Message))
			p.mu.Unlock()
			chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: false})
		}
	})
	t.Cleanup(p.keepArtifacts) // before cancel: cleanups run last first
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Oslo"}); err != nil {
		t.Fatalf("set the time zone: %v", err)
	}
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: p.downloads,
		BrowserContextID: chromedp.FromContext(ctx).BrowserContextID,
	}); err != nil {
		t.Fatalf("set the download folder: %v", err)
	}
	return p
}

// broken returns what the page's console logged that a console page must never cause:
// uncaught exceptions and Content-Security-Policy violations (inline script or style, eval).
func (p *page) broken() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.console {
		if strings.Contains(m, " exception ") || strings.Contains(m, "Content Security Policy") {
			out = append(out, m)
		}
	}
	return out
}

// keepArtifacts writes the full-page screenshot, the page's HTML and its console log when the
// test failed, and names the folder in the test's log.
func (p *page) keepArtifacts() {
	p.mu.Lock()
	dialogs := strings.Join(p.dialogs, "\n")
	p.mu.Unlock()
	if dialogs != "" {
		p.t.Errorf("the page opened JavaScript dialogs (markup or script from data ran?):\n%s", dialogs)
	}
	if broken := p.broken(); len(broken) > 0 {
		p.t.Errorf("the page logged uncaught exceptions or Content-Security-Policy violations:\n%s", strings.Join(broken, "\n"))
	}
	if !p.t.Failed() {
		return
	}
	dir := artifactsDir(p.t.Name())
	if p.n > 1 {
		dir += fmt.Sprintf("-page%d", p.n)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Logf("artifacts: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil { // quality 100: PNG
		os.WriteFile(filepath.Join(dir, "screenshot.png"), png, 0o644)
	} else {
		p.t.Logf("screenshot: %v", err)
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
		os.WriteFile(filepath.Join(dir, "page.html"), []byte(html), 0o644)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	p.mu.Lock()
	log := "location: " + loc + "\n" + strings.Join(p.console, "\n") + "\n"
	p.mu.Unlock()
	os.WriteFile(filepath.Join(dir, "console.log"), []byte(log), 0o644)
	p.t.Logf("artifacts of the failed test (screenshot.png, console.log, page.html): %s", dir)
}

// do runs actions with the page's bounded wait, failing the test with what was being done.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, wait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, explain(err))
	}
}

// explain turns a timeout into words.
func explain(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("not done within %s (%w)", wait, err)
	}
	return err
}

// open loads path of the console (a full page load) and waits for sel.
func (p *page) open(path, sel string) {
	p.t.Helper()
	p.do("open "+path, chromedp.Navigate(p.base+path))
	if sel != "" {
		p.waitFor(path+": "+sel, sel)
	}
}

// waitFor waits until the element sel is visible.
func (p *page) waitFor(what, sel string) {
	p.t.Helper()
	p.do("wait for "+what, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// until waits until the JavaScript expression cond is true, and fails naming what.
func (p *page) until(what, cond string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, wait+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(wait))); err != nil {
		p.t.Fatalf("waiting for %s (%s): %v", what, cond, explain(err))
	}
}

// untilFetched waits until the JavaScript expression cond, which may be a promise (e.g. of an
// API call), is true; it asks again every 200 ms for at most the page's wait.
func (p *page) untilFetched(what, cond string) {
	p.t.Helper()
	for deadline := time.Now().Add(wait); !eval[bool](p, cond); {
		if time.Now().After(deadline) {
			p.t.Fatalf("waiting for %s (%s): not true within %s", what, cond, wait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// eval returns the value of the JavaScript expression expr (a promise is awaited).
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, wait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %.120s: %v", expr, explain(err))
	}
	return v
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x2028 || r == 0x2029 || r == '<' || r == '>':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// text is the text content of the first element sel.
func (p *page) text(sel string) string {
	p.t.Helper()
	return eval[string](p, `(document.querySelector(`+js(sel)+`) || {textContent: ''}).textContent`)
}

// count is the number of elements sel.
func (p *page) count(sel string) int {
	p.t.Helper()
	return eval[int](p, `document.querySelectorAll(`+js(sel)+`).length`)
}

// click clicks the element sel as a person does (the mouse, at its centre).
func (p *page) click(sel string) {
	p.t.Helper()
	p.do("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// typeInto empties the control sel and types text into it, as keys.
func (p *page) typeInto(sel, text string) {
	p.t.Helper()
	p.set(sel, "") // chromedp.Clear empties the value attribute only, not what was typed
	p.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// set sets the value of the control sel (a select, a date input) and tells the page, as a
// change by a person does (input and change events).
func (p *page) set(sel, value string) {
	p.t.Helper()
	p.waitFor(sel, sel)
	ok := eval[bool](p, `(() => { const el = document.querySelector(`+js(sel)+`); el.value = `+js(value)+`;
		el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true}));
		return el.value === `+js(value)+`; })()`)
	if !ok {
		p.t.Fatalf("%s does not take the value %q", sel, value)
	}
}

// path is the page's location: its path and query.
func (p *page) path() string {
	p.t.Helper()
	loc, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		p.t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		p.t.Fatal(err)
	}
	return u.RequestURI()
}

// signInLimit is how long signInForm waits for the server's sign-in rate limits (per client
// address 10 a minute, per user 5: auth.Service), which a test binary signing in from
// 127.0.0.1 reaches; perAttempt is the refill time of the per-address bucket.
const (
	signInLimit = 75 * time.Second
	perAttempt  = 6 * time.Second
)

// signInForm signs in as u on the sign-in page (at path, "/signin" with its query), with the
// keyboard, and waits for the console's navigation. Refused as too many attempts (429 rate_limited), it tries
// again when the server's bucket has a token, as a person told "try again later" would.
func (p *page) signInForm(path string, u user) {
	p.t.Helper()
	p.open(path, "#username")
	p.typeInto("#username", u.name)
	for deadline := time.Now().Add(signInLimit); ; {
		p.typeInto("#password", u.password+"\n") // Enter submits the form, as from the keyboard
		p.until("the console or a refusal after signing in as "+u.name, `(location.pathname !== '/signin' && !!document.querySelector('#top nav'))
			|| !!document.querySelector('#signin-status .error')`)
		if p.path() != "/signin" && !strings.HasPrefix(p.path(), "/signin?") {
			p.until("the page after signing in as "+u.name, `!document.querySelector('#signin-status')`)
			return
		}
		refusal := p.text("#signin-status .error")
		switch {
		case !strings.Contains(refusal, "rate_limited") || time.Now().After(deadline):
			p.t.Fatalf("signing in as %s: %s", u.name, refusal)
		}
		time.Sleep(perAttempt)
	}
}

// sessions are the session cookies of the users signed in by signIn, shared by the pages of
// the test binary (a sign-in per user, not per page: the server limits sign-ins).
var sessions = struct {
	sync.Mutex
	cookie map[string]string
}{cookie: map[string]string{}}

// signIn gives the page a session of u: the one signIn made for u before, if it is still
// valid, else a new one through the sign-in page. Tests that end or age their session sign in
// with signInForm instead.
func (p *page) signIn(u user) {
	p.t.Helper()
	sessions.Lock()
	cookie := sessions.cookie[u.name]
	sessions.Unlock()
	if cookie != "" {
		p.setSessionCookie(cookie)
		p.open("/settings", "")
		p.until("the console as "+u.name, `!!document.querySelector('#top nav') || location.pathname === '/signin'`)
		if p.path() != "/signin" && strings.Contains(p.text("#top"), u.name) {
			return
		}
	}
	p.signInForm("/signin", u)
	sessions.Lock()
	sessions.cookie[u.name] = p.sessionCookie()
	sessions.Unlock()
}

// downloaded waits for the one file a download put into the page's download folder and
// returns its name and content.
func (p *page) downloaded(what string) (string, []byte) {
	p.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		entries, err := os.ReadDir(p.downloads)
		if err != nil {
			p.t.Fatal(err)
		}
		var done []string
		partial := false
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".crdownload") {
				partial = true
			} else {
				done = append(done, e.Name())
			}
		}
		switch {
		case len(done) > 1:
			p.t.Fatalf("%s: %d files downloaded, want one: %v", what, len(done), done)
		case len(done) == 1 && !partial:
			b, err := os.ReadFile(filepath.Join(p.downloads, done[0]))
			if err != nil {
				p.t.Fatal(err)
			}
			return done[0], b
		case time.Now().After(deadline):
			p.t.Fatalf("%s: nothing downloaded within %s", what, wait)
		}
		time.Sleep(100 * time.Millisecond) // a poll of the folder, bounded by the deadline
	}
}

// clearDownloads empties the download folder.
func (p *page) clearDownloads() {
	p.t.Helper()
	entries, _ := os.ReadDir(p.downloads)
	for _, e := range entries {
		os.Remove(filepath.Join(p.downloads, e.Name()))
	}
}
