package history

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"breachd/event"
	"breachd/output"
)

// The lookups of someone's history people ask for by name (`breachd history <lookup>`, the API).
const (
	LookupLogins   = "logins"
	LookupAccess   = "access"
	LookupSubject  = "subject"
	LookupTimeline = "timeline"
)

// LookupRequest is one audited lookup as people ask for it: Lookup of Who (the account; for
// LookupSubject the person) in [From, To), asked by Ask.
type LookupRequest struct {
	Lookup   string
	Who      string
	From, To time.Time
	Ask      Asker
	Limit    int  // LookupTimeline: at most this many rows (0: DefaultTimelineLimit)
	Summary  bool // LookupAccess: the totals per resource category instead of the rows
	// Scope is the organisations whose accounts and events the asker may see; the zero Scope
	// sees nothing.
	Scope event.Scope
}

// Lookup runs r (Logins, Access, Subject or Timeline) within r.Scope and returns its rows
// under the lookup's columns; the access rows carry the totals as their footer. The account
// (for LookupSubject the person) must be in the scope (see Realm; a guardian without a realm
// by the directory), else the error wraps ErrNotInScope and the refusal is audited; in scope,
// the lookup is audited first and every query reads only rows of the scope's organisations.
// The zero Scope sees nothing.
func (s *Store) Lookup(ctx context.Context, r LookupRequest) (*output.Rows, error) {
	switch r.Lookup {
	case LookupLogins:
		rows, err := s.logins(ctx, r.Scope, r.Ask, r.Who, r.From, r.To)
		return output.RowsOf(LoginColumns, rows, LoginRow.Row), err
	case LookupAccess:
		sum, err := s.access(ctx, r.Scope, r.Ask, r.Who, r.From, r.To)
		if err != nil || r.Summary {
			all := AccessTotal{Resource: "(all)", People: sum.Total.People, Records: sum.Total.Records, Events: sum.Total.Events}
			return output.RowsOf(TotalColumns, append(sum.ByResource, all), AccessTotal.Row), err
		}
		t := output.RowsOf(AccessColumns, sum.Rows, AccessRow.Row)
		t.Footer = fmt.Sprintf("total: %d people, %d records, %d events", sum.Total.People, sum.Total.Records, sum.Total.Events)
		return t, nil
	case LookupSubject:
		rows, err := s.subject(ctx, r.Scope, r.Ask, r.Who, r.From, r.To)
		return output.RowsOf(SubjectColumns, rows, SubjectRow.Row), err
	case LookupTimeline:
		rows, err := s.timeline(ctx, r.Scope, r.Ask, r.Who, r.From, r.To, r.Limit)
		return output.RowsOf(TimelineColumns, rows, TimelineRow.Row), err
	}
	return nil, fmt.Errorf("unknown lookup %q", r.Lookup)
}

// AuditedSQL writes the read-only statement stmt to the audit log (ask's identity, or actor
// "unknown"; ask.Why as the reason) and then runs it (SQL) over every organisation. When the
// audit row cannot be written, nothing runs.
func (s *Store) AuditedSQL(ctx context.Context, ask Asker, stmt string, lim SQLLimits) (*output.Rows, error) {
	ask.Who = cmp.Or(strings.TrimSpace(ask.Who), "unknown")
	if err := s.Audit(ctx, ask.Entry(AuditSQL, "", "", stmt)); err != nil {
		return nil, fmt.Errorf("statement refused, %w: %w", ErrAudit, err)
	}
	t, err := s.SQL(ctx, stmt, lim)
	if err != nil {
		return nil, err
	}
	return &output.Rows{Columns: t.Columns, Rows: t.Rows}, nil
}

// MigrateRequest is the schema upkeep an operator asks for (`breachd migrate`): the pending
// migrations (RetentionDays: the TTL of event tables they create), then the Retention changes
// (ApplyRetention), then, with Show, each table's retention as it is now.
type MigrateRequest struct {
	RetentionDays int
	Retention     Retention
	Show          bool
}

// Migrated is what Maintain did, for output.Write.
type Migrated struct {
	Applied    int       `json:"applied"`             // migrations applied
	Statements []string  `json:"statements"`          // retention changes run
	Retention  Retention `json:"retention,omitempty"` // with Show: each table's retention now (0: forever, < 0: a TTL breachd did not write)
	retained   bool
}

// Maintain runs r. When the migrations failed the result is nil; on a later error it says
// what was done before it.
func (s *Store) Maintain(ctx context.Context, r MigrateRequest) (_ *Migrated, err error) {
	m := &Migrated{}
	if m.Applied, err = s.Migrate(ctx, r.RetentionDays); err != nil {
		return nil, err
	}
	if m.retained = len(r.Retention) > 0; m.retained {
		if m.Statements, err = s.ApplyRetention(ctx, r.Retention); err != nil {
			return m, err
		}
	}
	if r.Show {
		m.Retention, err = s.RetentionNow(ctx)
	}
	return m, err
}

// WriteText says how many migrations were applied, the retention statements run, and each
// table's retention when it was asked for.
func (m Migrated) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "applied %d migrations; the schema is up to date\n", m.Applied)
	for _, stmt := range m.Statements {
		fmt.Fprintln(w, stmt)
	}
	if m.retained && len(m.Statements) == 0 {
		fmt.Fprintln(w, "retention unchanged")
	}
	for _, t := range RetentionTables() {
		switch d := m.Retention[t]; {
		case m.Retention == nil:
		case d == 0:
			fmt.Fprintf(w, "%-18s forever\n", t)
		case d < 0:
			fmt.Fprintf(w, "%-18s a TTL breachd did not write (see SHOW CREATE TABLE %s)\n", t, t)
		default:
			fmt.Fprintf(w, "%-18s %d days\n", t, d)
		}
	}
	return nil
}
