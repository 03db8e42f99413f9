package e2e_test

import (
	"encoding/csv"
	"net/url"
	"strings"
	"testing"
)

// The demo's day (simulate.Defaults: Monday 2026-11-02, Europe/Oslo) as datetime-local
// values in the browser's zone (Europe/Oslo, see newPage).
const (
	demoFrom = "2026-11-01T00:00"
	demoTo   = "2026-11-03T00:00"
)

// lookup fills the investigate form (lookup kind of account over the demo's day, with
// reason), submits it and waits for its answer: new result tables or a new alert.
func (p *page) lookup(kind, account, reason string) {
	p.t.Helper()
	p.lookupIn(kind, account, reason, demoFrom, demoTo)
}

// lookupIn is lookup over the window from–to (datetime-local values).
func (p *page) lookupIn(kind, account, reason, from, to string) {
	p.t.Helper()
	p.set("select#lookup", kind)
	p.typeInto("#account", account)
	p.set("#from", from)
	p.set("#to", to)
	p.typeInto("#reason", reason)
	// What is on the page now is marked, so that the wait sees the answer to this lookup.
	eval[int](p, `(() => { const old = document.querySelectorAll('main table, main [role=alert], main [role=alert] *');
		old.forEach(el => el.setAttribute('data-e2e-old', '')); return old.length; })()`)
	p.click("form#lookup-form button[type=submit]")
	p.until("the answer to the "+kind+" lookup of "+account, `!!document.querySelector('table#results:not([data-e2e-old])') ||
		[...document.querySelectorAll('main [role=alert]:not([data-e2e-old]), main [role=alert] *:not([data-e2e-old]):not(.loading)')]
			.some(e => e.textContent.trim() !== '')`)
}

// resultRows is the number of rows of the result table id (results, results-2, …).
func (p *page) resultRows(id string) int {
	p.t.Helper()
	return p.count("table#" + id + " tbody tr")
}

// alertText is the text of the page's alerts (errors, refusals).
func (p *page) alertText() string {
	p.t.Helper()
	return eval[string](p, `[...document.querySelectorAll('main [role=alert]')].map(e => e.textContent.trim()).filter(Boolean).join(' | ')`)
}

// incidentOf returns the id of the incident of account, as the SOC's incident list has it
// (through a page signed in as the SOC).
func incidentOf(t *testing.T, in *instance, account string) string {
	t.Helper()
	p := newPage(t, in)
	p.signIn(in.user(t, socUser))
	id := eval[string](p, `fetch('/api/incidents?all=true&limit=1000').then(r => r.json())
		.then(b => (b.rows.find(r => r.account === `+js(account)+`) || {id: ''}).id)`)
	if id == "" {
		t.Fatalf("the demo has no incident of %s", account)
	}
	return id
}

// TestOrgAdminInvestigatesAndDPOAudits is scenarios (a) and (d): Bergen's org-admin looks up
// an account's logins and whose data it touched, exports the logins as CSV and sees nothing
// of Oslo (no incident of Oslo in the list, an Oslo account answers as one that does not
// exist); then Bergen's DPO sees those lookups in the audit view, with who made them and why.
func TestOrgAdminInvestigatesAndDPOAudits(t *testing.T) {
	in := demo(t)
	own := in.breach(t, "pupil_as_teacher")      // Bergen: a pupil made faculty reads grades
	other := in.breach(t, "credential_stuffing") // Oslo
	if own.Org != orgBergen || other.Org != orgOslo {
		t.Fatalf("the demo's breaches moved: %s in %s, %s in %s", own.Account, own.Org, other.Account, other.Org)
	}
	otherID := incidentOf(t, in, other.Account)
	reason := in.unique("e2e (a): the school reported grades read by a pupil, case ")

	t.Run("a_org_admin", func(t *testing.T) {
		p := newPage(t, in)
		p.signIn(in.user(t, orgAdmin))

		p.open("/incidents", "table#incidents tr[data-id]")
		rows := p.text("table#incidents tbody")
		if !strings.Contains(rows, own.Account) {
			t.Errorf("the org-admin's incident list lacks Bergen's incident of %s", own.Account)
		}
		if strings.Contains(rows, orgOslo) || strings.Contains(rows, other.Account) || p.count(`tr[data-id="`+otherID+`"]`) > 0 {
			t.Errorf("the org-admin of Bergen sees Oslo's incidents: %q", rows)
		}
		p.open("/incidents/"+otherID, "main h1")
		p.until("the refusal of Oslo's incident", `!!document.querySelector('main [role=alert]') || !document.querySelector('#state')`)
		if p.count("#state, #timeline") > 0 || strings.Contains(p.text("main"), other.Account) {
			t.Errorf("the org-admin of Bergen sees Oslo's incident %s", otherID)
		}

		p.open("/investigate", "form#lookup-form")
		p.lookup("logins", own.Account, reason)
		logins := p.resultRows("results")
		if logins == 0 {
			t.Fatalf("no logins of %s on the demo's day (alerts: %q)", own.Account, p.alertText())
		}
		p.clearDownloads()
		p.click("#export-csv")
		name, body := p.downloaded("the CSV export")
		if !strings.HasSuffix(name, ".csv") || strings.ContainsAny(name, `/\`) {
			t.Errorf("the CSV export is named %q", name)
		}
		recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
		if err != nil {
			t.Fatalf("the CSV export is no CSV: %v\n%s", err, body)
		}
		if len(recs) != logins+1 {
			t.Errorf("the CSV export has %d records, want the header and the table's %d rows:\n%s", len(recs), logins, body)
		}
		if header := p.count("table#results thead th"); len(recs) > 0 && len(recs[0]) != header {
			t.Errorf("the CSV header has %d columns, the table %d: %v", len(recs[0]), header, recs[0])
		}

		p.lookup("access", own.Account, reason)
		touched := eval[string](p, `[...document.querySelectorAll('main table[id^=results] tbody')].map(t => t.textContent).join(' ')`)
		found := 0
		for _, s := range own.Subjects {
			if strings.Contains(touched, s) {
				found++
			}
		}
		if found == 0 {
			t.Errorf("the access lookup of %s names none of the %d pupils whose data it read (%v)", own.Account, len(own.Subjects), own.Subjects)
		}

		p.lookup("logins", other.Account, reason)
		refused := p.alertText()
		if p.count("table#results:not([data-e2e-old]) tbody tr") > 0 || refused == "" {
			t.Errorf("a lookup of Oslo's %s: alerts %q and results, want the not-found answer and no rows", other.Account, refused)
		}
		q := url.Values{"account": {other.Account}, "from": {"2026-10-31T23:00:00Z"}, "to": {"2026-11-02T23:00:00Z"}, "reason": {reason}}
		if st, code := p.status("GET", "/api/history/logins?"+q.Encode(), "", false); st != 404 || code != "not_found" {
			t.Errorf("the API answered the page's lookup of Oslo's %s with %d %s, want 404 not_found", other.Account, st, code)
		}
		p.lookup("logins", "nobody.e2e@"+orgOslo, reason)
		if missing := p.alertText(); missing != refused {
			t.Errorf("an Oslo account answers %q, one that does not exist %q: the org-admin can tell them apart", refused, missing)
		}
	})

	t.Run("d_dpo_audit", func(t *testing.T) {
		p := newPage(t, in)
		p.signIn(in.user(t, dpoUser))
		p.open("/audit", "table#audit")
		rowsOf := `[...document.querySelectorAll('table#audit tbody tr')].filter(tr => tr.textContent.includes(` + js(reason) + `))`
		p.until("the org-admin's lookups in the audit view", rowsOf+`.length >= 2`)
		// The logins and the access lookup of own.Account (the refused lookups of Oslo's
		// accounts are Oslo's: not in Bergen's view).
		rows := eval[[]string](p, rowsOf+`.map(tr => tr.textContent)`)
		if len(rows) != 2 {
			t.Errorf("the audit view has %d rows with the reason, want the org-admin's 2 lookups of %s: %q", len(rows), own.Account, rows)
		}
		for _, r := range rows {
			if !strings.Contains(r, orgAdmin.name) || !strings.Contains(r, own.Account) {
				t.Errorf("an audit row with the reason does not name the org-admin (%s) and the account %s: %q", orgAdmin.name, own.Account, r)
			}
		}
	})
}

// TestSOCSeesNewIncidentAndReportsIt is scenario (b): with the incidents page open and its
// stream live, a new incident appears without a reload; the SOC acknowledges it, contains
// and investigates it, fills the Art. 33 report, marks it reported (socUser also holds dpo,
// as a small school owner's security officer does: reporting needs the dpo role) and
// downloads the draft in Norwegian.
func TestSOCSeesNewIncidentAndReportsIt(t *testing.T) {
	in := demo(t)
	account := in.unique("e2e.new.") + "@" + orgBergen
	p := newPage(t, in)
	p.signIn(in.user(t, socUser))
	p.open("/incidents", "table#incidents")
	p.until("the live stream", `(document.querySelector('#stream-status') || {dataset: {}}).dataset.state === 'live'`)
	eval[bool](p, `window.e2eNoReload = true`)
	// The list is read once when the page opens and once more when the stream opens (changes
	// in between are not on the stream); after that, a new row must come from the stream
	// alone, not from another read of the list.
	listReads := `performance.getEntriesByType('resource').filter(e => new URL(e.name).pathname === '/api/incidents').length`
	p.until("the list read at the page's open and the stream's", listReads+` >= 2`)
	reads := eval[float64](p, listReads)

	in.exportIncident(t, orgBergen, account)
	row := `[...document.querySelectorAll('table#incidents tr[data-id]')].find(tr => tr.textContent.includes(` + js(account) + `))`
	p.until("the new incident of "+account+" in the list", `!!`+row)
	if !eval[bool](p, `window.e2eNoReload === true`) {
		t.Fatal("the page was reloaded: the incident did not come through the stream")
	}
	if now := eval[float64](p, listReads); now != reads {
		t.Fatalf("the list was read again (%v reads, %v before the incident): the row did not come through the stream alone", now, reads)
	}
	id := eval[string](p, row+`.dataset.id`)

	p.click(`table#incidents tr[data-id="` + id + `"] a`)
	p.until("the incident page of "+id, `location.pathname === '/incidents/`+id+`' && !!document.querySelector('#state')`)
	if h1 := p.text("main h1"); !strings.Contains(h1, id) {
		t.Errorf("the incident page's heading %q lacks the id", h1)
	}
	state := func(want string) {
		t.Helper()
		p.until("state "+want, `document.querySelector('#state').dataset.state === `+js(want))
	}
	state("detected")
	p.waitFor("the countdown", "#deadline[data-deadline]")

	p.click("#ack")
	p.until("the acknowledgement in the timeline", `document.querySelector('#timeline').textContent.includes('acknowledged')`)
	for _, to := range []string{"contained", "investigating"} {
		p.set("select#transition-to", to)
		p.click("#transition")
		state(to)
	}

	reference := in.unique("DT-2026-")
	for name, v := range map[string]string{
		"reference": reference, "dpo": "Dag Personvern, personvernombud@bergen.kommune.no",
		"consequences": "Grades of 14 pupils were read by a pupil.",
		"measures":     "The account was deactivated and the HR feed corrected.",
		"art34":        "not_required", "art34_reason": "Low risk: the data did not leave the school.",
	} {
		p.setField("#report-form", name, v)
	}
	p.click("#report-save")
	p.until("the report's reference in the preview", `document.querySelector('#report-preview').textContent.includes(`+js(reference)+`)`)
	p.click("#mark-reported")
	state("reported")

	p.clearDownloads()
	href := eval[string](p, `document.querySelector('a#download-nb').getAttribute('href')`)
	if !strings.Contains(href, "lang=nb") || !strings.Contains(href, "/api/incidents/"+id+"/report") {
		t.Errorf("a#download-nb links to %q", href)
	}
	p.click("a#download-nb")
	name, body := p.downloaded("the Norwegian Art. 33 draft")
	if strings.ContainsAny(name, `/\`) || !strings.Contains(name, id) {
		t.Errorf("the draft is saved as %q", name)
	}
	for _, want := range []string{"Melding om brudd", reference, id} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the Norwegian draft lacks %q:\n%s", want, body)
		}
	}
}

// setField sets the control named name of form (an input, a textarea, a select, or the
// radio button of that value) as a person does.
func (p *page) setField(form, name, value string) {
	p.t.Helper()
	ok := eval[bool](p, `(() => {
		const els = [...document.querySelectorAll(`+js(form)+` + ' [name="' + `+js(name)+` + '"]')];
		if (!els.length) return false;
		const el = els[0].type === 'radio' ? els.find(e => e.value === `+js(value)+`) : els[0];
		if (!el) return false;
		if (el.type === 'radio' || el.type === 'checkbox') el.checked = true; else el.value = `+js(value)+`;
		el.dispatchEvent(new Event('input', {bubbles: true}));
		el.dispatchEvent(new Event('change', {bubbles: true}));
		return el.type === 'radio' || el.value === `+js(value)+`;
	})()`)
	if !ok {
		p.t.Fatalf("%s has no control %s that takes %q", form, name, value)
	}
}

// TestRuleAuthorBacktests is scenario (c): a rule author sees the loaded rules with their
// hits chart, backtests a rule over the demo's day and sees its hits per rule and account
// and their chart, with the accounts as counts only; the SOC's same backtest names them.
func TestRuleAuthorBacktests(t *testing.T) {
	in := demo(t)
	const rule = "bulk-export-sensitive" // the demo's night export trips it
	exporter := in.breach(t, "bulk_export").Account
	p := newPage(t, in)
	p.signIn(in.user(t, author))
	p.open("/rules", `table#rules tr[data-rule="`+rule+`"]`)
	p.waitFor("the hits chart", "#hits-chart canvas")
	p.backtest(rule)
	p.waitFor("the backtest's chart", "#backtest-chart canvas")
	if strings.Contains(p.text("main"), exporter) { // docs/access.md: counts only
		t.Errorf("the rule author's backtest shows the account %s", exporter)
	}

	soc := newPage(t, in)
	soc.signIn(in.user(t, socUser))
	soc.open("/rules", `table#rules tr[data-rule="`+rule+`"]`)
	soc.backtest(rule)
	if got := soc.text("table#backtest-accounts tbody"); !strings.Contains(got, exporter) {
		t.Errorf("the SOC's backtest does not name the account %s: %q", exporter, got)
	}
}

// backtest runs the backtest form for rule over the demo's day and waits for its results:
// rows per rule (rule among them) and the table per account.
func (p *page) backtest(rule string) {
	p.t.Helper()
	p.set("select#backtest-rule", rule)
	p.set("#backtest-from", demoFrom)
	p.set("#backtest-to", demoTo)
	p.click("form#backtest-form button[type=submit]")
	p.until("the backtest's results", `document.querySelectorAll('table#backtest-rules tbody tr').length > 0`)
	if got := p.text("table#backtest-rules tbody"); !strings.Contains(got, rule) {
		p.t.Errorf("the backtest's rules table lacks %s: %q", rule, got)
	}
	p.waitFor("the backtest's accounts", "table#backtest-accounts")
}
