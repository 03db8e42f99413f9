package history_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"breachd/event"
	"breachd/history"
)

// TestAccountAlerts: the alerts of an account in the window, each with the event behind it of
// whatever kind (nil when history lacks it); nothing of another account or outside the window;
// audited before anything is read; an account outside the scope is ErrNotInScope; more than
// MaxAccountAlerts are cut and say so.
func TestAccountAlerts(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	loadScopeData(t, s)
	at := func(hhmm string) time.Time {
		ts, err := time.Parse(time.RFC3339, "2026-11-02T"+hhmm+":00Z")
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	alert := func(id, account, eventID string, kind event.Kind, when time.Time) event.Alert {
		return event.Alert{ID: id, RuleID: "r-" + id, Severity: event.SeverityHigh, Org: "bergen.no", Account: account,
			EventID: eventID, EventKind: kind, EventTime: when, Detected: when.Add(time.Minute), Summary: "summary " + id}
	}
	alerts := []event.Alert{
		alert("a-access", "berit@bergen.no", "sx1", event.KindAccess, at("09:00")),
		alert("a-login", "berit@bergen.no", "sb1", event.KindAuth, at("08:00")),
		alert("a-shared", "berit@bergen.no", "sx2", event.KindAccess, at("09:05")),
		alert("a-gone", "berit@bergen.no", "nowhere", event.KindAccess, at("10:00")),
		alert("a-late", "berit@bergen.no", "sx1", event.KindAccess, at("23:59").Add(2*time.Hour)), // after the window
		alert("a-other", "per@bergen.no", "sx1", event.KindAccess, at("09:00")),
		alert("a-guardian", "idporten:hash:g1", "sg1", event.KindDirectory, at("07:00")),
	}
	for i := range history.MaxAccountAlerts + 1 {
		alerts = append(alerts, alert(fmt.Sprintf("m-%04d", i), "many@bergen.no", "sx1", event.KindAccess, at("12:00").Add(time.Duration(i)*time.Second)))
	}
	if err := s.WriteAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	ask := orgAdmin
	ask.Incident = "INC-20261102-0000abcd"
	get := func(account string, scope event.Scope) (history.AccountAlerts, error) {
		return s.AccountAlerts(ctx, history.AlertsRequest{Account: account, From: qFrom, To: qTo, Ask: ask, Scope: scope})
	}

	got, err := get("berit@bergen.no", bergen)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range got.Alerts {
		ids = append(ids, a.ID)
	}
	if want := []string{"a-login", "a-access", "a-shared", "a-gone"}; !slices.Equal(ids, want) || got.Truncated {
		t.Fatalf("alerts %v (truncated %v), want %v in event time order", ids, got.Truncated, want)
	}
	by := func(id string) history.AccountAlert {
		return got.Alerts[slices.IndexFunc(got.Alerts, func(a history.AccountAlert) bool { return a.ID == id })]
	}
	if e := by("a-login").Event; e == nil || e.Kind != "auth" || e.Service != "https://lms" || e.Result != "success" || e.IP != "5.5.5.5" {
		t.Errorf("a-login's event: %+v", e)
	}
	if e := by("a-access").Event; e == nil || e.Kind != "access" || e.Subject != "per@bergen.no" || e.Resource != "grades" || e.Records != 2 {
		t.Errorf("a-access's event: %+v", e)
	}
	if e := by("a-gone").Event; e != nil {
		t.Errorf("a-gone has an event: %+v", e)
	}
	if a := by("a-access"); a.RuleID != "r-a-access" || a.Severity != "high" || a.Summary != "summary a-access" || !a.EventTime.Equal(at("09:00")) {
		t.Errorf("a-access: %+v", a)
	}

	g, err := get("idporten:hash:g1", bergen)
	if err != nil || len(g.Alerts) != 1 || g.Alerts[0].Event == nil || g.Alerts[0].Event.Kind != "directory" ||
		g.Alerts[0].Event.Guardian != "idporten:hash:g1" || g.Alerts[0].Event.Child != "per@bergen.no" {
		t.Errorf("the guardian's alerts: %+v, %v", g, err)
	}

	if got, err := get("berit@bergen.no", event.OrgScope("oslo.no")); !errors.Is(err, history.ErrNotInScope) || len(got.Alerts) != 0 {
		t.Errorf("another organisation's account: %+v, %v; want ErrNotInScope", got, err)
	}
	if got, err := get("berit@bergen.no", event.Scope{}); !errors.Is(err, history.ErrNotInScope) || len(got.Alerts) != 0 {
		t.Errorf("zero scope: %+v, %v; want ErrNotInScope", got, err)
	}

	many, err := get("many@bergen.no", bergen)
	if err != nil || len(many.Alerts) != history.MaxAccountAlerts || !many.Truncated {
		t.Errorf("many alerts: %d, truncated %v, %v; want %d and truncated", len(many.Alerts), many.Truncated, err, history.MaxAccountAlerts)
	}

	rows, err := s.AuditLog(ctx, event.Everywhere, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range rows {
		if r.Subject == orgAdmin.Subject {
			count[r.Action+" "+r.Target]++
		}
	}
	for key, n := range map[string]int{
		history.AuditAlerts + " berit@bergen.no":                        1,
		history.AuditAlerts + history.AuditRefused + " berit@bergen.no": 2,
		history.AuditAlerts + " idporten:hash:g1":                       1,
		history.AuditAlerts + " many@bergen.no":                         1,
	} {
		if count[key] != n {
			t.Errorf("audit rows %q: %d, want %d (all: %v)", key, count[key], n, count)
		}
	}
}
