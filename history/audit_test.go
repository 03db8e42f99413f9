package history_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"breachd/event"
	"breachd/history"
)

func auditLog(t *testing.T, s *history.Store) []history.AuditEntry {
	t.Helper()
	rows, err := s.AuditLog(context.Background(), event.Everywhere, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestEveryLookupAudited: each lookup writes one audit row naming who asked, what, whose
// history, why, the window and the incident.
func TestEveryLookupAudited(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	loadQueryData(t, s)
	lookups := []struct {
		action, target string
		call           func() error
	}{
		{history.AuditLogins, "kari@o.no", func() error { _, err := s.Logins(ctx, ask, "kari@o.no", qFrom, qTo); return err }},
		{history.AuditAccess, "kari@o.no", func() error { _, err := s.Access(ctx, ask, "kari@o.no", qFrom, qTo); return err }},
		{history.AuditSubject, "ola@o.no", func() error { _, err := s.Subject(ctx, ask, "ola@o.no", qFrom, qTo); return err }},
		{history.AuditTimeline, "kari@o.no", func() error { _, err := s.Timeline(ctx, ask, "kari@o.no", qFrom, qTo, 5); return err }},
	}
	for _, l := range lookups {
		if err := l.call(); err != nil {
			t.Fatalf("%s: %v", l.action, err)
		}
	}
	rows := auditLog(t, s)
	if len(rows) != len(lookups) {
		t.Fatalf("%d audit rows after %d lookups: %+v", len(rows), len(lookups), rows)
	}
	byAction := map[string]history.AuditEntry{} // rows of the same millisecond come in any order
	for _, r := range rows {
		byAction[r.Action] = r
	}
	for i, l := range lookups {
		r := byAction[l.action]
		if r.Actor != "dpo@o.no" || r.Action != l.action || r.Target != l.target || r.Reason != "suspected breach" {
			t.Errorf("audit row %d = %+v, want actor dpo@o.no action %s target %s reason 'suspected breach'", i, r, l.action, l.target)
		}
		for _, want := range []string{"window=[2026-11-02T00:00:00Z, 2026-11-03T00:00:00Z)", "incident=INC-1"} {
			if !strings.Contains(r.Detail, want) {
				t.Errorf("audit row %d detail %q lacks %q", i, r.Detail, want)
			}
		}
		if time.Since(r.Time) > time.Minute || r.Time.After(time.Now()) {
			t.Errorf("audit row %d time %v is not now", i, r.Time)
		}
	}
	if d := byAction[history.AuditTimeline].Detail; !strings.Contains(d, "limit=5") {
		t.Errorf("timeline audit detail %q lacks the limit", d)
	}
}

// TestAuditFailureFailsLookup: with the audit table gone, no lookup returns data.
func TestAuditFailureFailsLookup(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	loadQueryData(t, s)
	if err := s.Conn().Exec(ctx, "RENAME TABLE audit TO audit_moved"); err != nil {
		t.Fatal(err)
	}
	check := func(name string, n int, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "could not be audited") {
			t.Errorf("%s without an audit log: err = %v, want 'could not be audited'", name, err)
		}
		if n != 0 {
			t.Errorf("%s without an audit log returned %d rows", name, n)
		}
	}
	l, err := s.Logins(ctx, ask, "kari@o.no", qFrom, qTo)
	check("logins", len(l), err)
	a, err := s.Access(ctx, ask, "kari@o.no", qFrom, qTo)
	check("access", len(a.Rows)+len(a.ByResource)+int(a.Total.Events), err)
	sub, err := s.Subject(ctx, ask, "ola@o.no", qFrom, qTo)
	check("subject", len(sub), err)
	tl, err := s.Timeline(ctx, ask, "kari@o.no", qFrom, qTo, 0)
	check("timeline", len(tl), err)

	// Back in place, lookups work again: the failure was the audit log's.
	if err := s.Conn().Exec(ctx, "RENAME TABLE audit_moved TO audit"); err != nil {
		t.Fatal(err)
	}
	if l, err := s.Logins(ctx, ask, "kari@o.no", qFrom, qTo); err != nil || len(l) != 3 {
		t.Errorf("logins with the audit log restored: %d rows, %v", len(l), err)
	}
}

func TestAuditEntry(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := s.Audit(ctx, history.AuditEntry{Action: history.AuditSQL}); err == nil {
		t.Error("audit entry without actor: no error")
	}
	e := history.AuditEntry{Actor: "ops", Action: history.AuditSQL, Reason: "check", Detail: "SELECT 1"}
	if err := s.Audit(ctx, e); err != nil {
		t.Fatal(err)
	}
	rows := auditLog(t, s)
	if len(rows) != 1 || rows[0].Actor != "ops" || rows[0].Action != history.AuditSQL || rows[0].Detail != "SELECT 1" || rows[0].Reason != "check" {
		t.Errorf("audit log = %+v", rows)
	}
}
