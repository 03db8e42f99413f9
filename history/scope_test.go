package history_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"breachd/event"
	"breachd/history"
	"breachd/output"
)

// Two organisations: berit, a Bergen teacher, reads Bergen pupils' data and, through a service
// shared with Oslo, one Oslo pupil's (recorded under oslo.no). Two guardians without a realm:
// g1 of a Bergen child, g2 of an Oslo child.
var scopeData = []string{
	`{"kind":"auth","id":"sb1","time":"2026-11-02T08:00:00Z","org":"bergen.no","user":"berit@bergen.no","service":"https://lms","result":"success","method":"password","ip":"5.5.5.5","country":"NO"}`,
	`{"kind":"auth","id":"sb2","time":"2026-11-02T08:30:00Z","org":"oslo.no","user":"berit@bergen.no","service":"https://shared","result":"success","method":"password","ip":"5.5.5.5","country":"NO"}`,
	`{"kind":"access","id":"sx1","time":"2026-11-02T09:00:00Z","org":"bergen.no","actor":"berit@bergen.no","actor_role":"teacher","action":"view","subject":"per@bergen.no","resource":"grades","service":"https://lms","records":2}`,
	`{"kind":"access","id":"sx2","time":"2026-11-02T09:05:00Z","org":"oslo.no","actor":"berit@bergen.no","actor_role":"teacher","action":"view","subject":"ola@oslo.no","resource":"grades","service":"https://shared","records":5}`,
	`{"kind":"directory","id":"sg1","time":"2026-11-02T07:00:00Z","org":"bergen.no","op":"guardianship","guardian":"idporten:hash:g1","child":"per@bergen.no","status":"active"}`,
	`{"kind":"directory","id":"sg2","time":"2026-11-02T07:00:00Z","org":"oslo.no","op":"guardianship","guardian":"idporten:hash:g2","child":"ola@oslo.no","status":"active"}`,
}

// orgAdmin is a Bergen Feide administrator signed in as a local user.
var orgAdmin = history.Asker{Who: "Bente (bente@breachd:local)", Issuer: "breachd:local", Subject: "bente", Roles: []string{"org-admin"},
	Why: "phishing report"}

var bergen = event.OrgScope("bergen.no")

func loadScopeData(t *testing.T, s *history.Store) {
	t.Helper()
	if err := s.WriteEvents(context.Background(), parse(t, scopeData...)); err != nil {
		t.Fatal(err)
	}
}

// column returns the values of column name in t, as text.
func column(t *output.Rows, name string) []string {
	i := slices.Index(t.Columns, name)
	var out []string
	for _, r := range t.Rows {
		out = append(out, output.Cell(r[i]))
	}
	return out
}

// TestLookupScope: a lookup inside the scope returns only rows of the scope's organisations; an
// account outside it (by realm, or a guardian the directory ties to another organisation) and
// any account for the zero Scope is ErrNotInScope with no rows.
func TestLookupScope(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	loadScopeData(t, s)
	cases := []struct {
		name    string
		lookup  string
		who     string
		scope   event.Scope
		column  string
		want    []string // the column's values; nil with refused
		refused bool
	}{
		{"own teacher's access: own organisation's rows only", history.LookupAccess, "berit@bergen.no", bergen, "subject", []string{"per@bergen.no"}, false},
		{"the same for the SOC: every organisation", history.LookupAccess, "berit@bergen.no", event.Everywhere, "subject", []string{"ola@oslo.no", "per@bergen.no"}, false},
		{"own teacher's logins", history.LookupLogins, "berit@bergen.no", bergen, "service", []string{"https://lms"}, false},
		{"realm in another case", history.LookupLogins, "berit@BERGEN.no", bergen, "service", nil, false},
		{"own guardian via the directory", history.LookupTimeline, "idporten:hash:g1", bergen, "id", []string{"sg1"}, false},
		{"foreign account", history.LookupLogins, "berit@bergen.no", event.OrgScope("oslo.no"), "", nil, true},
		{"foreign person", history.LookupSubject, "ola@oslo.no", bergen, "", nil, true},
		{"foreign guardian", history.LookupTimeline, "idporten:hash:g2", bergen, "", nil, true},
		{"unknown guardian", history.LookupTimeline, "idporten:hash:nobody", bergen, "", nil, true},
		{"unknown guardian, every organisation", history.LookupTimeline, "idporten:hash:nobody", event.Everywhere, "id", nil, false},
		{"zero scope", history.LookupLogins, "berit@bergen.no", event.Scope{}, "", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Lookup(ctx, history.LookupRequest{Lookup: c.lookup, Who: c.who, From: qFrom, To: qTo, Ask: orgAdmin, Scope: c.scope})
			if c.refused {
				if !errors.Is(err, history.ErrNotInScope) || (got != nil && len(got.Rows) != 0) {
					t.Fatalf("err = %v, %v; want ErrNotInScope and no rows", err, got)
				}
				if strings.Contains(err.Error(), "oslo") && !strings.Contains(c.who, "oslo") {
					t.Errorf("the refusal names another organisation: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			vals := column(got, c.column)
			slices.Sort(vals)
			if !reflect.DeepEqual(vals, c.want) {
				t.Errorf("%s = %q, want %q", c.column, vals, c.want)
			}
		})
	}
}

// TestLookupAuditIdentity: every lookup, refused ones included, is in the audit log with the
// asker's identity and the target's organisation; a refused one as <action>.refused.
func TestLookupAuditIdentity(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	loadScopeData(t, s)
	for _, r := range []history.LookupRequest{
		{Lookup: history.LookupLogins, Who: "berit@bergen.no", Scope: bergen},
		{Lookup: history.LookupTimeline, Who: "idporten:hash:g1", Scope: bergen},
		{Lookup: history.LookupAccess, Who: "ola@oslo.no", Scope: bergen},
	} {
		r.From, r.To, r.Ask = qFrom, qTo, orgAdmin
		_, _ = s.Lookup(ctx, r)
	}
	rows := auditLog(t, s)
	got := map[string]history.AuditEntry{}
	for _, r := range rows {
		got[r.Action+" "+r.Target] = r
	}
	for key, org := range map[string]string{
		"history.logins berit@bergen.no":     "bergen.no",
		"history.timeline idporten:hash:g1":  "bergen.no",
		"history.access.refused ola@oslo.no": "oslo.no",
	} {
		e, ok := got[key]
		if !ok {
			t.Errorf("no audit row %q in %+v", key, rows)
			continue
		}
		if e.Actor != orgAdmin.Who || e.Issuer != "breachd:local" || e.Subject != "bente" || !reflect.DeepEqual(e.Roles, []string{"org-admin"}) ||
			e.Org != org || e.Reason != "phishing report" {
			t.Errorf("audit row %q = %+v, want the asker's identity and org %s", key, e, org)
		}
	}
	if len(rows) != 3 {
		t.Errorf("%d audit rows after 3 lookups: %+v", len(rows), rows)
	}
}

// TestScopedLookupAuditFailure: with the audit table gone, a scoped lookup in scope returns no
// data either.
func TestScopedLookupAuditFailure(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	loadScopeData(t, s)
	if err := s.Conn().Exec(ctx, "RENAME TABLE audit TO audit_moved"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Lookup(ctx, history.LookupRequest{Lookup: history.LookupLogins, Who: "berit@bergen.no", From: qFrom, To: qTo, Ask: orgAdmin, Scope: bergen})
	if err == nil || !strings.Contains(err.Error(), "could not be audited") || len(got.Rows) != 0 {
		t.Errorf("lookup without an audit log: %v, %v", got, err)
	}
}

// TestAuditLogScoped: a scoped reader sees the rows of its organisations' targets only; the
// zero Scope none; offset pages through the rest.
func TestAuditLogScoped(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	now := time.Now()
	for i, org := range []string{"bergen.no", "oslo.no", "bergen.no", "", "bergen.no"} {
		if err := s.Audit(ctx, history.AuditEntry{Time: now.Add(time.Duration(i) * time.Second), Actor: "soc", Action: history.AuditLogins,
			Target: "x" + string(rune('a'+i)) + "@" + org, Org: org}); err != nil {
			t.Fatal(err)
		}
	}
	from, to := now.Add(-time.Minute), now.Add(time.Minute)
	targets := func(sc event.Scope, limit, offset int) []string {
		t.Helper()
		rows, err := s.AuditLog(ctx, sc, from, to, limit, offset)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.Target)
		}
		return out
	}
	if got := targets(bergen, 0, 0); !reflect.DeepEqual(got, []string{"xa@bergen.no", "xc@bergen.no", "xe@bergen.no"}) {
		t.Errorf("bergen's audit log = %q", got)
	}
	if got := targets(event.Everywhere, 0, 0); len(got) != 5 {
		t.Errorf("the whole audit log = %q", got)
	}
	if got := targets(event.Scope{}, 0, 0); len(got) != 0 {
		t.Errorf("the zero scope's audit log = %q", got)
	}
	if got := targets(bergen, 2, 2); !reflect.DeepEqual(got, []string{"xe@bergen.no"}) {
		t.Errorf("bergen's second page = %q", got)
	}
}

// TestRuleHits: per rule and bucket, the alerts (a redelivered one once), their distinct
// accounts and the hits suppressed into them; alerts outside the window are not counted.
func TestRuleHits(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	alert := func(id, rule, account string, at time.Time) event.Alert {
		return event.Alert{ID: id, RuleID: rule, Title: rule, Severity: "high", Org: "o.no", Account: account, EventID: "e" + id,
			EventKind: event.KindAuth, EventTime: at, Detected: at, Summary: "s"}
	}
	suppressed := func(a event.Alert, n int64) event.Alert { a.Suppressed = n; return a }
	alerts := []event.Alert{
		alert("1", "r1", "a@o.no", at(8, 0)), suppressed(alert("2", "r1", "a@o.no", at(8, 10)), 4), alert("3", "r1", "b@o.no", at(8, 59)),
		alert("4", "r1", "a@o.no", at(9, 0)), alert("5", "r2", "c@o.no", at(8, 30)),
		alert("6", "r1", "z@o.no", qTo), // outside [qFrom, qTo)
	}
	for range 2 { // a redelivery
		if err := s.WriteAlerts(ctx, alerts); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RuleHits(ctx, qFrom, qTo, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].Bucket = got[i].Bucket.UTC()
	}
	want := []history.RuleHit{{"r1", at(8, 0), 3, 2, 4}, {"r2", at(8, 0), 1, 1, 0}, {"r1", at(9, 0), 1, 1, 0}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rule hits:\n got %+v\nwant %+v", got, want)
	}
	if _, err := s.RuleHits(ctx, qFrom, qTo, time.Second); err == nil {
		t.Error("a one-second bucket was accepted")
	}
}
