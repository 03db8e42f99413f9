package history_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"breachd/event"
)

// TestRecentAlertsAndAlertedEvents: RecentAlerts returns the alerts of the asked rules from
// since on, oldest first, once each though written twice; AlertedEvents reads their events
// back by id, whole, of every kind, and leaves out an event history does not hold.
func TestRecentAlertsAndAlertedEvents(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	active := true
	evs := []*event.Event{
		{Kind: event.KindAuth, ID: "e-auth", Time: t0, Org: "bergen.no", User: "berit@bergen.no", Service: "lms", Result: "failure", IP: "192.0.2.1"},
		{Kind: event.KindAccess, ID: "e-access", Time: t0.Add(time.Minute), Org: "bergen.no", Service: "sis", Actor: "per@bergen.no",
			ActorRole: "teacher", Action: "read", Subject: "ola@bergen.no", Resource: "grades", Records: 3},
		{Kind: event.KindDirectory, ID: "e-dir", Time: t0.Add(2 * time.Minute), Org: "bergen.no", Op: "person_updated",
			User: "kari@bergen.no", Active: &active},
		{Kind: event.KindAuth, ID: "e-old", Time: t0.Add(-2 * time.Hour), Org: "bergen.no", User: "berit@bergen.no", Service: "lms", Result: "failure"},
	}
	if err := s.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	alert := func(rule string, e *event.Event, account string) event.Alert {
		return event.Alert{ID: event.AlertID(rule, e.ID), RuleID: rule, Severity: event.SeverityHigh, Org: "bergen.no",
			Account: account, EventID: e.ID, EventKind: e.Kind, EventTime: e.Time, Detected: e.Time, Summary: rule}
	}
	alerts := []event.Alert{
		alert("r1", evs[2], "kari@bergen.no"),
		alert("r1", evs[0], "berit@bergen.no"),
		alert("r2", evs[1], "per@bergen.no"),
		alert("r1", evs[3], "berit@bergen.no"),    // before since
		alert("other", evs[0], "berit@bergen.no"), // a rule not asked for
		{ID: event.AlertID("r1", "gone"), RuleID: "r1", Account: "x@bergen.no", EventID: "gone", EventKind: event.KindAuth,
			EventTime: t0.Add(3 * time.Minute), Summary: "r1"},
	}
	for range 2 { // a redelivered batch writes its alerts again
		if err := s.WriteAlerts(ctx, alerts); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RecentAlerts(ctx, []string{"r1", "r2"}, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, a := range got {
		rows = append(rows, a.RuleID+"/"+a.Account+"/"+a.EventID+"/"+string(a.EventKind)+"/"+a.EventTime.Sub(t0).String())
	}
	want := []string{"r1/berit@bergen.no/e-auth/auth/0s", "r2/per@bergen.no/e-access/access/1m0s",
		"r1/kari@bergen.no/e-dir/directory/2m0s", "r1/x@bergen.no/gone/auth/3m0s"}
	if !slices.Equal(rows, want) {
		t.Errorf("RecentAlerts:\n got %v\nwant %v", rows, want)
	}

	byID, err := s.AlertedEvents(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if len(byID) != 3 || byID["gone"] != nil {
		t.Errorf("AlertedEvents returned %d events (%v), want the 3 stored ones", len(byID), byID)
	}
	for _, e := range evs[:3] {
		g := byID[e.ID]
		if g == nil {
			t.Errorf("event %s missing", e.ID)
			continue
		}
		if g.Kind != e.Kind || !g.Time.Equal(e.Time) || g.Account() != e.Account() || g.Records != e.Records || g.Op != e.Op || g.Result != e.Result {
			t.Errorf("event %s read back as %+v, want %+v", e.ID, g, e)
		}
	}
}
