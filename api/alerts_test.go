package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"breachd/auth"
	"breachd/event"
	"breachd/history"
)

// TestIncidentAlerts: GET /api/incidents/{id}/alerts answers the alerts of the incident's
// account in its window with the event behind each (null when history lacks it), and nothing
// of another account; it is an audited lookup of the account by the signed-in identity; an
// incident of another organisation is 404, a role without incidents.read 403.
func TestIncidentAlerts(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	acc := accountOf[bergen]
	inc := e.byAccount[acc]
	at := inc.FirstSeen
	lines := []string{
		fmt.Sprintf(`{"kind":"auth","id":"ia-login","time":%q,"org":%q,"user":%q,"service":"https://lms","result":"success","method":"password","ip":"193.157.9.9","country":"NO"}`,
			at.Format(time.RFC3339Nano), bergen, acc),
		fmt.Sprintf(`{"kind":"access","id":"ia-export","time":%q,"org":%q,"actor":%q,"actor_role":"teacher","action":"export","subject":"elev7@%s","resource":"health","service":"https://lms","records":12}`,
			at.Format(time.RFC3339Nano), bergen, acc, bergen),
	}
	var evs []*event.Event
	for _, l := range lines {
		ev, err := event.Parse([]byte(l))
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		evs = append(evs, &ev)
	}
	if err := e.store.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	alert := func(id, account, eventID string, kind event.Kind) event.Alert {
		return event.Alert{ID: id, RuleID: "health-read", Title: "health data read", Severity: event.SeverityCritical, Org: history.Realm(account),
			Account: account, Subject: "elev7@" + bergen, EventID: eventID, EventKind: kind, EventTime: at, Detected: at.Add(time.Second), Summary: "read by " + account}
	}
	if err := e.store.WriteAlerts(ctx, []event.Alert{
		alert("ia-1", acc, "ia-export", event.KindAccess),
		alert("ia-2", acc, "ia-login", event.KindAuth),
		alert("ia-3", acc, "ia-gone", event.KindAccess),                      // its event is not in history
		alert("ia-4", "someone.else@"+bergen, "ia-export", event.KindAccess), // another account
	}); err != nil {
		t.Fatal(err)
	}

	soc := principalName(auth.RoleSOC, bergen)
	resp, body := e.do("GET", "/api/incidents/"+inc.ID+"/alerts", soc, "")
	var got history.AccountAlerts
	if err := json.Unmarshal(body, &got); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("alerts: %s %v %s", resp.Status, err, body)
	}
	byID := map[string]history.AccountAlert{}
	for _, a := range got.Alerts {
		byID[a.ID] = a
	}
	if len(byID) != 3 || got.Truncated {
		t.Fatalf("alerts %v (truncated %v), want ia-1, ia-2, ia-3", slices.Collect(func(yield func(string) bool) {
			for id := range byID {
				if !yield(id) {
					return
				}
			}
		}), got.Truncated)
	}
	if ev := byID["ia-1"].Event; ev == nil || ev.Kind != "access" || ev.Resource != "health" || ev.Subject != "elev7@"+bergen || ev.Records != 12 || ev.Action != "export" {
		t.Errorf("ia-1's event: %+v", ev)
	}
	if ev := byID["ia-2"].Event; ev == nil || ev.Kind != "auth" || ev.Service != "https://lms" || ev.IP != "193.157.9.9" || ev.Result != "success" {
		t.Errorf("ia-2's event: %+v", ev)
	}
	if a := byID["ia-3"]; a.Event != nil || a.RuleID != "health-read" || a.Severity != "critical" || !a.EventTime.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("ia-3: %+v, want no event", a)
	}
	if !strings.Contains(string(body), `"event":null`) {
		t.Errorf("an alert without its event does not say event null: %s", body)
	}

	rows, err := e.store.AuditLog(ctx, event.Everywhere, e.now.Add(-time.Hour), time.Now().Add(time.Minute), 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rows, func(r history.AuditEntry) bool {
		return r.Action == history.AuditAlerts && r.Target == acc && r.Subject == soc && r.Issuer == auth.IssuerLocal &&
			strings.Contains(r.Detail, "incident="+inc.ID)
	}) {
		t.Errorf("no %s audit row of %s for %s by %s: %+v", history.AuditAlerts, acc, inc.ID, soc, rows)
	}

	// Another organisation's incident is answered as a missing one; a role without
	// incidents.read is refused.
	if resp, body := e.do("GET", "/api/incidents/"+inc.ID+"/alerts", principalName(auth.RoleOrgAdmin, oslo), ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("Oslo's org-admin on a Bergen incident: %s %s, want 404", resp.Status, body)
	}
	if resp, _ := e.do("GET", "/api/incidents/"+inc.ID+"/alerts", principalName(auth.RoleRuleAuthor, bergen), ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("rule author: %s, want 403", resp.Status)
	}
}
