package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// axeVersion is the axe-core that scripts/setup.sh installs (AXE_VERSION there).
const axeVersion = "4.14.1"

// axePath is axe.min.js: $BREACHD_AXE, else where scripts/setup.sh caches it.
func axePath() string {
	if p := os.Getenv("BREACHD_AXE"); p != "" {
		return p
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "breachd", "axe-core-"+axeVersion, "axe.min.js")
}

var axeScript struct {
	once sync.Once
	src  string
	err  error
}

// axeSource is the text of axe.min.js; a test without it fails saying how to get it.
func axeSource(t *testing.T) string {
	t.Helper()
	axeScript.once.Do(func() {
		b, err := os.ReadFile(axePath())
		axeScript.src, axeScript.err = string(b), err
	})
	if axeScript.err != nil {
		t.Fatalf("the accessibility check needs axe-core %s: %v: %s, or set BREACHD_AXE", axeVersion, axeScript.err, setupHint)
	}
	return axeScript.src
}

// violation is one axe rule a page breaks, with the elements that break it.
type violation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// checkA11y fails the test on every violation of impact serious or critical on the page
// (axeViolations), naming the rule, the elements and the help.
func (p *page) checkA11y(name string) {
	p.t.Helper()
	vs := p.axeViolations()
	if len(vs) == 0 {
		return
	}
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "\n  %s (%s): %s\n    at %s", v.ID, v.Impact, v.Help, strings.Join(v.Targets, "; "))
	}
	p.t.Errorf("%s: %d serious or critical accessibility violations (axe-core %s):%s", name, len(vs), axeVersion, b.String())
}

// axeViolations runs axe-core in the page (Runtime.evaluate is not bound by the page's CSP)
// and returns its violations of impact serious or critical.
func (p *page) axeViolations() []violation {
	p.t.Helper()
	if !eval[bool](p, `typeof axe !== 'undefined'`) {
		eval[any](p, axeSource(p.t)+"\n;null")
	}
	if v := eval[string](p, `axe.version`); v != axeVersion {
		p.t.Fatalf("axe-core %s in the page, want %s", v, axeVersion)
	}
	return eval[[]violation](p, `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
		.filter(v => v.impact === 'serious' || v.impact === 'critical')
		.map(v => ({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map(n => n.target.join(' '))})))`)
}

// TestAxeFindsViolations: the check finds what it is there to find (a page of the console
// broken on purpose: an unlabelled input and an image without a text alternative).
func TestAxeFindsViolations(t *testing.T) {
	in := demo(t)
	p := newPage(t, in)
	p.open("/signin", "#username")
	eval[bool](p, `(() => { const main = document.querySelector('main');
		main.append(document.createElement('img'), Object.assign(document.createElement('input'), {id: 'e2e-unlabelled'}));
		return true; })()`)
	got := map[string]bool{}
	for _, v := range p.axeViolations() {
		got[v.ID] = true
	}
	for _, want := range []string{"image-alt", "label"} {
		if !got[want] {
			t.Errorf("axe-core did not report %s on a page that breaks it (got %v)", want, got)
		}
	}
}

// TestAccessibility runs axe-core on the console's main pages, each with its content loaded,
// in English and (the incidents page, after the user chose Norwegian in the settings) in
// Norwegian: no serious or critical violation.
func TestAccessibility(t *testing.T) {
	in := demo(t)
	axeSource(t) // fail at once, not after signing in, when it is missing
	p := newPage(t, in)
	p.open("/signin", "#username")
	p.checkA11y("sign-in")
	p.signIn(in.user(t, lead))

	p.open("/incidents", "table#incidents tr[data-id]")
	p.checkA11y("incidents")
	id := eval[string](p, `document.querySelector('table#incidents tr[data-id]').dataset.id`)
	p.open("/incidents/"+id, "#state")
	p.waitFor("the incident's timeline", "#timeline")
	p.checkA11y("incident " + id)

	b := in.breach(t, "pupil_as_teacher")
	p.open("/investigate", "form#lookup-form")
	p.checkA11y("investigate")
	p.lookup("logins", b.Account, "e2e: accessibility check")
	p.checkA11y("investigate with results")

	for _, pg := range []struct{ path, ready string }{
		{"/audit", "table#audit"},
		{"/rules", "table#rules tr[data-rule]"},
		{"/register", "table#register"},
		{"/health", "table#streams"},
		{"/settings", "select#settings-lang"},
	} {
		p.open(pg.path, pg.ready)
		p.checkA11y(pg.path)
	}

	// The language is the user's setting: another browser of the same user speaks it too.
	p.set("select#settings-lang", "nb")
	p.until("the console in Norwegian", `document.documentElement.lang === 'nb'`)
	other := newPage(t, in)
	other.signIn(in.user(t, lead))
	other.open("/incidents", "table#incidents tr[data-id]")
	if h1 := other.text("main h1"); h1 != "Hendelser" {
		t.Errorf("the incidents page of a user who chose Norwegian is headed %q, want Hendelser", h1)
	}
	other.checkA11y("incidents (nb)")
}
