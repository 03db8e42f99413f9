package history_test

import (
	"context"
	"strings"
	"testing"

	"breachd/event"
	"breachd/history"
	"breachd/output"
)

// TestLookupByName: each lookup people ask for by name returns the rows its own method returns,
// under its columns, and is audited like it; the access rows carry the totals as a footer.
func TestLookupByName(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	loadQueryData(t, s)
	req := func(lookup, who string) history.LookupRequest {
		return history.LookupRequest{Lookup: lookup, Who: who, From: qFrom, To: qTo, Ask: ask, Scope: event.Everywhere}
	}
	logins, err := s.Logins(ctx, ask, "kari@o.no", qFrom, qTo)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Access(ctx, ask, "kari@o.no", qFrom, qTo)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		req     history.LookupRequest
		columns []string
		rows    int
		footer  string
	}{
		{req(history.LookupLogins, "kari@o.no"), history.LoginColumns, len(logins), ""},
		{req(history.LookupAccess, "kari@o.no"), history.AccessColumns, len(sum.Rows), "total: 2 people, 46 records, 4 events"},
		{func() history.LookupRequest { r := req(history.LookupAccess, "kari@o.no"); r.Summary = true; return r }(),
			history.TotalColumns, len(sum.ByResource) + 1, ""},
		{req(history.LookupSubject, "ola@o.no"), history.SubjectColumns, -1, ""},
		{req(history.LookupTimeline, "kari@o.no"), history.TimelineColumns, -1, ""},
	} {
		got, err := s.Lookup(ctx, c.req)
		if err != nil {
			t.Fatalf("%s: %v", c.req.Lookup, err)
		}
		if strings.Join(got.Columns, ",") != strings.Join(c.columns, ",") || (c.rows >= 0 && len(got.Rows) != c.rows) || len(got.Rows) == 0 ||
			got.Footer != c.footer {
			t.Errorf("%s (summary %t): columns %v, %d rows, footer %q; want %v, %d rows, footer %q",
				c.req.Lookup, c.req.Summary, got.Columns, len(got.Rows), got.Footer, c.columns, c.rows, c.footer)
		}
	}
	if _, err := s.Lookup(ctx, req("everything", "kari@o.no")); err == nil {
		t.Error("an unknown lookup was answered")
	}
	r := req(history.LookupLogins, "kari@o.no")
	r.Ask.Why, r.Ask.Incident = "", ""
	if _, err := s.Lookup(ctx, r); err == nil {
		t.Error("a lookup without a purpose was answered")
	}
}

// TestAuditedSQL: the statement is in the audit log before its result is returned; a write is
// refused.
func TestAuditedSQL(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	const stmt = "SELECT 41 + 1 AS answer"
	got, err := s.AuditedSQL(ctx, history.Asker{Who: " ", Why: "checking", Issuer: "breachd:os", Subject: "root"}, stmt, history.SQLLimits{})
	if err != nil || len(got.Rows) != 1 || got.Columns[0] != "answer" || output.Cell(got.Rows[0][0]) != "42" {
		t.Fatalf("AuditedSQL: %+v, %v", got, err)
	}
	audit, err := s.SQL(ctx, "SELECT actor, reason, issuer, subject FROM audit WHERE action = '"+history.AuditSQL+"' AND detail = '"+stmt+"'", history.SQLLimits{})
	if err != nil || len(audit.Rows) != 1 || audit.Rows[0][0] != "unknown" || audit.Rows[0][1] != "checking" ||
		audit.Rows[0][2] != "breachd:os" || audit.Rows[0][3] != "root" {
		t.Errorf("audit rows of the statement: %+v, %v", audit, err)
	}
	if _, err := s.AuditedSQL(ctx, history.Asker{Who: "dpo"}, "DROP TABLE audit", history.SQLLimits{}); err == nil {
		t.Error("a write statement ran")
	}
}

// TestMaintain: on a migrated history nothing is applied; a retention change runs its
// statements once, and the retention shown afterwards is the new one.
func TestMaintain(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	m, err := s.Maintain(ctx, history.MigrateRequest{Retention: history.Retention{"audit": 1825}, Show: true})
	if err != nil || m.Applied != 0 || len(m.Statements) != 1 || !strings.Contains(m.Statements[0], "audit MODIFY TTL") || m.Retention["audit"] != 1825 {
		t.Fatalf("Maintain: %+v, %v", m, err)
	}
	var b strings.Builder
	if err := output.Write(&b, output.Table, m); err != nil || !strings.Contains(b.String(), "applied 0 migrations") ||
		!strings.Contains(b.String(), "audit              1825 days") || !strings.Contains(b.String(), "alerts             forever") {
		t.Errorf("Maintain text: %v\n%s", err, b.String())
	}
	m, err = s.Maintain(ctx, history.MigrateRequest{Retention: history.Retention{"audit": 1825}})
	b.Reset()
	_ = output.Write(&b, output.Table, m)
	if err != nil || len(m.Statements) != 0 || b.String() != "applied 0 migrations; the schema is up to date\nretention unchanged\n" {
		t.Errorf("Maintain again: %+v, %v\n%s", m, err, b.String())
	}
	if _, err := s.Maintain(ctx, history.MigrateRequest{Retention: history.Retention{"nosuch": 1}}); err == nil {
		t.Error("retention of an unknown table applied")
	}
}
