package api_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"breachd/api"
	"breachd/auth"
	"breachd/event"
	"breachd/history"
)

// anyLogin raises an alert on every successful login, for backtests.
const anyLogin = `rules:
  - id: any-login
    title: Any login
    description: every successful login
    severity: low
    when: [auth]
    condition: event.Result == "success"
    summary: '"login by " + event.User'
`

// TestBacktestAccountsByScope: a backtest names accounts only of the organisations the caller
// may look up; the counts are the same for everyone.
func TestBacktestAccountsByScope(t *testing.T) {
	e := newEnv(t, nil)
	body, _ := json.Marshal(map[string]any{"from": "1d", "rule_text": anyLogin})
	for _, c := range []struct {
		principal string
		see, not  []string
	}{
		{principalName(auth.RoleSOC, oslo), []string{accountOf[bergen], accountOf[oslo]}, nil},
		{principalName(auth.RoleRuleAuthor, bergen), nil, []string{accountOf[bergen], accountOf[oslo]}},
		{ruleAuthorBergenAdmin, []string{accountOf[bergen]}, []string{accountOf[oslo]}},
	} {
		resp, b := e.do("POST", "/api/rules/backtest", c.principal, string(body))
		var rep struct {
			Rules []struct {
				Rule     string `json:"rule"`
				Alerts   int    `json:"alerts"`
				Accounts int    `json:"accounts"`
			} `json:"rules"`
		}
		if err := json.Unmarshal(b, &rep); resp.StatusCode != 200 || err != nil || len(rep.Rules) != 1 {
			t.Fatalf("%s: %d %s", c.principal, resp.StatusCode, b)
		}
		if r := rep.Rules[0]; r.Alerts != 2 || r.Accounts != 2 {
			t.Errorf("%s: rule %s alerts %d accounts %d, want 2 and 2 (counts for everyone)", c.principal, r.Rule, r.Alerts, r.Accounts)
		}
		for _, s := range c.see {
			if !strings.Contains(string(b), s) {
				t.Errorf("%s: the report lacks %s: %s", c.principal, s, b)
			}
		}
		for _, s := range c.not {
			if strings.Contains(string(b), s) {
				t.Errorf("%s: the report shows %s: %s", c.principal, s, b)
			}
		}
	}
}

// TestChangesNameTheSignedInIdentity: a change's timeline entry names the principal, and a
// body cannot choose another actor.
func TestChangesNameTheSignedInIdentity(t *testing.T) {
	e := newEnv(t, nil)
	soc := principalName(auth.RoleSOC, bergen)
	id := e.byAccount[accountOf[oslo]].ID
	resp, b := e.do("POST", "/api/incidents/"+id+"/comment", soc, `{"step":2,"text":"told the DPO"}`)
	var inc event.Incident
	if err := json.Unmarshal(b, &inc); resp.StatusCode != 200 || err != nil {
		t.Fatalf("comment: %d %s", resp.StatusCode, b)
	}
	last := inc.Timeline[len(inc.Timeline)-1]
	if want := soc + "@" + auth.IssuerLocal; last.Actor != want || inc.Steps[2].Actor != want {
		t.Errorf("timeline actor %q, step actor %q; want %q", last.Actor, inc.Steps[2].Actor, want)
	}
	if resp, b := e.do("POST", "/api/incidents/"+id+"/comment", soc, `{"text":"x","actor":"dpo@datatilsynet.no"}`); resp.StatusCode != 400 {
		t.Errorf("a body naming an actor: %d %s, want 400", resp.StatusCode, b)
	}
}

// TestPagination: limit and cursor walk every row once.
func TestPagination(t *testing.T) {
	e := newEnv(t, []string{"a@" + bergen, "b@" + bergen, "c@" + bergen, "d@" + oslo})
	soc := principalName(auth.RoleSOC, bergen)
	seen := map[string]int{}
	next, pages := "", 0
	for {
		path := "/api/incidents?all=true&limit=2"
		if next != "" {
			path += "&cursor=" + next
		}
		resp, b := e.do("GET", path, soc, "")
		var rows api.Rows
		if err := json.Unmarshal(b, &rows); resp.StatusCode != 200 || err != nil || rows.Total != 6 || len(rows.Rows) > 2 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		for _, r := range rows.Rows {
			seen[r["id"].(string)]++
		}
		if pages++; rows.Next == "" || pages > 10 {
			break
		}
		next = rows.Next
	}
	if len(seen) != 6 || pages != 3 {
		t.Errorf("%d pages, rows seen %v; want 3 pages of the 6 incidents once each", pages, seen)
	}
}

// TestDPOMarksReported: a DPO records Datatilsynet's reference and marks their organisation's
// incident reported; without a reference the request is refused and nothing changes; the SOC
// cannot do it through the report route.
func TestDPOMarksReported(t *testing.T) {
	e := newEnv(t, nil)
	dpo, soc := principalName(auth.RoleDPO, bergen), principalName(auth.RoleSOC, bergen)
	id := e.byAccount[accountOf[bergen]].ID
	if resp, b := e.do("POST", "/api/incidents/"+id+"/transition", soc, `{"to":"investigating","comment":"looking"}`); resp.StatusCode != 200 {
		t.Fatalf("transition: %d %s", resp.StatusCode, b)
	}
	before := e.version(accountOf[bergen])
	if resp, b := e.do("PATCH", "/api/incidents/"+id+"/report", dpo, `{"reported":true}`); resp.StatusCode != 400 || e.version(accountOf[bergen]) != before {
		t.Errorf("reported without a reference: %d %s (version %d → %d), want 400 and no change", resp.StatusCode, b, before, e.version(accountOf[bergen]))
	}
	if resp, b := e.do("PATCH", "/api/incidents/"+id+"/report", soc, `{"reference":"DT-1","reported":true}`); resp.StatusCode != 403 {
		t.Errorf("SOC marking reported: %d %s, want 403", resp.StatusCode, b)
	}
	resp, b := e.do("PATCH", "/api/incidents/"+id+"/report", dpo, `{"reference":"DT-2026-0412","reported":true}`)
	var inc event.Incident
	if err := json.Unmarshal(b, &inc); resp.StatusCode != 200 || err != nil {
		t.Fatalf("mark reported: %d %s", resp.StatusCode, b)
	}
	last := inc.Timeline[len(inc.Timeline)-1]
	if inc.State != event.StateReported || inc.Report.Reference != "DT-2026-0412" || last.Actor != dpo+"@"+auth.IssuerLocal {
		t.Errorf("after marking reported: state %s, reference %q, last actor %q", inc.State, inc.Report.Reference, last.Actor)
	}
}

// TestAuditedUnderTheIdentity: the lookups the API makes for a principal — evidence collected
// through the desk, a backtest of an edited rule — are audited with the principal's issuer,
// subject and roles; a lookup answers with every row at once (no second, re-audited page), and
// limit is the timeline's own.
func TestAuditedUnderTheIdentity(t *testing.T) {
	e := newEnv(t, nil)
	soc, author := principalName(auth.RoleSOC, bergen), principalName(auth.RoleRuleAuthor, bergen)
	id := e.byAccount[accountOf[bergen]].ID
	if resp, b := e.do("POST", "/api/incidents/"+id+"/evidence", soc, `{}`); resp.StatusCode != 200 {
		t.Fatalf("evidence: %d %s", resp.StatusCode, b)
	}
	body, _ := json.Marshal(map[string]string{"from": "1d", "rule_text": anyLogin})
	if resp, b := e.do("POST", "/api/rules/backtest", author, string(body)); resp.StatusCode != 200 {
		t.Fatalf("backtest: %d %s", resp.StatusCode, b)
	}
	rows, err := e.store.AuditLog(context.Background(), event.Everywhere, e.now.Add(-time.Hour), time.Now().Add(time.Minute), 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]history.AuditEntry{}
	for _, r := range rows {
		seen[r.Action+" "+r.Subject] = r
	}
	for _, want := range []struct{ action, subject, role string }{
		{history.AuditLogins, soc, "soc"}, {history.AuditBacktest, author, "rule-author"},
	} {
		r, ok := seen[want.action+" "+want.subject]
		if !ok || r.Issuer != auth.IssuerLocal || !slices.Contains(r.Roles, want.role) {
			t.Errorf("no %s audit row of %s with its identity (rows: %+v)", want.action, want.subject, rows)
		}
	}

	for i := range 3 { // more timeline rows than the limit asked for
		e.writeLogin(accountOf[bergen], e.now.Add(-time.Duration(i+1)*time.Minute))
	}
	path := "/api/history/timeline?account=" + accountOf[bergen] + "&from=1d&reason=test"
	var all, two api.Rows
	resp, b := e.do("GET", path, soc, "")
	if err := json.Unmarshal(b, &all); resp.StatusCode != 200 || err != nil || all.Next != "" || len(all.Rows) != all.Total || all.Total < 3 {
		t.Fatalf("timeline: %d, %d of %d rows, next %q: %s", resp.StatusCode, len(all.Rows), all.Total, all.Next, b)
	}
	resp, b = e.do("GET", path+"&limit=2", soc, "")
	if err := json.Unmarshal(b, &two); resp.StatusCode != 200 || err != nil || len(two.Rows) != 2 || two.Next != "" {
		t.Errorf("timeline limit=2: %d, %d rows, next %q: %s", resp.StatusCode, len(two.Rows), two.Next, b)
	}
	if resp, b := e.do("GET", "/api/history/logins?account="+accountOf[bergen]+"&from=1d&reason=test&limit=2", soc, ""); resp.StatusCode != 400 {
		t.Errorf("limit on logins: %d %s, want 400", resp.StatusCode, b)
	}
}
