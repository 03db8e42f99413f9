package history

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

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
}

// Lookup runs r (Logins, Access, Subject or Timeline: audited first) and returns its rows
// under the lookup's columns; the access rows carry the totals as their footer.
func (s *Store) Lookup(ctx context.Context, r LookupRequest) (*output.Rows, error) {
	switch r.Lookup {
	case LookupLogins:
		rows, err := s.Logins(ctx, r.Ask, r.Who, r.From, r.To)
		return output.RowsOf(LoginColumns, rows, LoginRow.Row), err
	case LookupAccess:
		sum, err := s.Access(ctx, r.Ask, r.Who, r.From, r.To)
		if err != nil || r.Summary {
			all := AccessTotal{Resource: "(all)", People: sum.Total.People, Records: sum.Total.Records, Events: sum.Total.Events}
			return output.RowsOf(TotalColumns, append(sum.ByResource, all), AccessTotal.Row), err
		}
		t := output.RowsOf(AccessColumns, sum.Rows, AccessRow.Row)
		t.Footer = fmt.Sprintf("total: %d people, %d records, %d events", sum.Total.People, sum.Total.Records, sum.Total.Events)
		return t, nil
	case LookupSubject:
		rows, err := s.Subject(ctx, r.Ask, r.Who, r.From, r.To)
		return output.RowsOf(SubjectColumns, rows, SubjectRow.Row), err
	case LookupTimeline:
		rows, err := s.Timeline(ctx, r.Ask, r.Who, r.From, r.To, r.Limit)
		return output.RowsOf(TimelineColumns, rows, TimelineRow.Row), err
	}
	return nil, fmt.Errorf("unknown lookup %q", r.Lookup)
}

// AuditedSQL writes the read-only statement stmt to the audit log (actor, or "unknown";
// reason) and then runs it (SQL). When the audit row cannot be written, nothing runs.
func (s *Store) AuditedSQL(ctx context.Context, actor, reason, stmt string, lim SQLLimits) (*output.Rows, error) {
	if err := s.Audit(ctx, AuditEntry{Actor: cmp.Or(strings.TrimSpace(actor), "unknown"), Action: AuditSQL, Reason: reason, Detail: stmt}); err != nil {
		return nil, fmt.Errorf("statement refused, it could not be audited: %w", err)
	}
	t, err := s.SQL(ctx, stmt, lim)
	if err != nil {
		return nil, err
	}
	return &output.Rows{Columns: t.Columns, Rows: t.Rows}, nil
}
