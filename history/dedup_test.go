package history_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"breachd/event"
	"breachd/history"
)

// TestUnwritten: after a batch is stored, Unwritten names exactly the events of a mixed batch
// that are not, whatever bytes their ids hold, and a writer that writes only those leaves every
// row stored once, counted without FINAL.
func TestUnwritten(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	stored := parse(t, sample...)
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	tricky := []string{`it's`, `back\slash`, "tab\there", "new\nline", `[x]`, `a','b`, "æøå-1"}
	for i, id := range tricky {
		stored = append(stored, &event.Event{Kind: event.KindAuth, ID: id, Time: base.Add(time.Duration(i) * time.Second),
			Org: "o.no", User: "kari@o.no", Service: "s", Result: "success"})
	}
	if err := s.WriteEvents(ctx, stored); err != nil {
		t.Fatal(err)
	}
	var fresh []*event.Event
	for i := range 2500 { // more than one existence chunk
		fresh = append(fresh, &event.Event{Kind: event.KindAccess, ID: fmt.Sprintf("new-%d", i), Time: base.Add(time.Duration(i) * time.Millisecond),
			Org: "o.no", Actor: fmt.Sprintf("t%d@o.no", i%7), ActorRole: "teacher", Action: "view", Subject: "ola@o.no", Resource: "grades", Service: "s", Records: 1})
	}
	// An event with the account and time of a stored one but another id is not stored.
	moved := *stored[3]
	moved.ID = "a-1-elsewhere"
	batch := append(slices.Clone(stored), fresh...)
	batch = append(batch, &moved)
	got, err := s.Unwritten(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(fresh), &moved)
	if len(got) != len(want) {
		t.Fatalf("Unwritten returned %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Unwritten[%d] = %q, want %q", i, got[i].ID, want[i].ID)
		}
	}
	if err := s.WriteEvents(ctx, got); err != nil {
		t.Fatal(err)
	}
	again, err := s.Unwritten(ctx, batch)
	if err != nil || len(again) != 0 {
		t.Fatalf("after writing the rest: Unwritten = %d events, %v; want none", len(again), err)
	}
	for table, n := range map[string]int{"auth_events": 1 + len(tricky) + 1, "access_events": 1 + len(fresh), "directory_events": 3} {
		var rows, ids uint64
		if err := s.Conn().QueryRow(ctx, "SELECT count(), uniqExact(id) FROM "+table).Scan(&rows, &ids); err != nil {
			t.Fatal(err)
		}
		if rows != uint64(n) || ids != uint64(n) {
			t.Errorf("%s without FINAL: %d rows, %d ids; want %d of each", table, rows, ids, n)
		}
	}

	alerts := []event.Alert{{ID: "al-1", RuleID: "r", Severity: event.SeverityHigh, Org: "o.no", Account: "kari@o.no", EventID: "a-1", EventKind: event.KindAuth, EventTime: base, Detected: base},
		{ID: "al-'2", RuleID: "r", Severity: event.SeverityHigh, Org: "o.no", Account: "kari@o.no", EventID: "a-2", EventKind: event.KindAuth, EventTime: base, Detected: base}}
	if err := s.WriteAlerts(ctx, alerts[:1]); err != nil {
		t.Fatal(err)
	}
	left, err := s.UnwrittenAlerts(ctx, alerts)
	if err != nil || len(left) != 1 || left[0].ID != "al-'2" {
		t.Fatalf("UnwrittenAlerts = %v, %v; want only al-'2", left, err)
	}
}

// TestRetention: retention is set per table, shows in the tables' TTLs, and applying the same
// retention twice changes nothing.
func TestRetention(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	cur, err := s.RetentionNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for table, d := range history.DefaultRetention() {
		if cur[table] != d {
			t.Errorf("fresh schema: %s keeps %d days, want %d", table, cur[table], d)
		}
	}
	r := history.Retention{}
	for _, spec := range []string{"auth_events=30", "access_events=90", "audit=1825", "alerts=0"} {
		if err := r.Set(spec); err != nil {
			t.Fatal(err)
		}
	}
	ran, err := s.ApplyRetention(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(ran) != 3 { // auth, access, audit; alerts already had none
		t.Errorf("ran %d statements, want 3: %q", len(ran), ran)
	}
	cur, err = s.RetentionNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for table, d := range map[string]int{"auth_events": 30, "access_events": 90, "audit": 1825, "alerts": 0, "directory_events": 0} {
		if cur[table] != d {
			t.Errorf("after ApplyRetention: %s keeps %d days, want %d", table, cur[table], d)
		}
	}
	if ran, err := s.ApplyRetention(ctx, r); err != nil || len(ran) != 0 {
		t.Errorf("second ApplyRetention ran %q, %v; want nothing", ran, err)
	}
	if ran, err := s.ApplyRetention(ctx, history.Retention{"audit": 0}); err != nil || len(ran) != 1 {
		t.Errorf("removing the audit TTL ran %q, %v; want one statement", ran, err)
	}
	for _, bad := range []string{"auth_events", "nope=3", "auth_events=-1", "auth_events=x"} {
		if err := (history.Retention{}).Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}
