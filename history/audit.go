package history

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Audit actions written by this package and by the CLI.
const (
	AuditLogins   = "history.logins"
	AuditAccess   = "history.access"
	AuditSubject  = "history.subject"
	AuditTimeline = "history.timeline"
	AuditSQL      = "history.sql"
)

// AuditEntry is one row of the audit log: who did what to whom, and why.
type AuditEntry struct {
	Time   time.Time // zero: now
	Actor  string    // who asked (an operator's user name, a service's name)
	Action string    // what was done, e.g. AuditLogins
	Target string    // whose history (an account or a person), or what was touched
	Reason string    // the purpose given by the actor
	Detail string    // the rest: window, incident id, statement text
}

// Asker is who looks up someone's history, and why. Every lookup of a person's history
// (Logins, Access, Subject, Timeline) takes one and is written to the audit log before any
// data is read; a lookup whose audit row cannot be written fails.
type Asker struct {
	Who      string // required: how the asker reads for people (auth.Principal.Actor)
	Issuer   string // the asker's identity: who vouches for Subject (auth.Issuer*, an OIDC issuer)
	Subject  string
	Roles    []string
	Why      string // the purpose; required unless Incident is given
	Incident string // the incident the lookup is part of, if any
}

// Validate reports a missing asker or purpose.
func (a Asker) Validate() error {
	if strings.TrimSpace(a.Who) == "" {
		return errors.New("asker: who is asking is required (every lookup of someone's history is audited)")
	}
	if strings.TrimSpace(a.Why) == "" && strings.TrimSpace(a.Incident) == "" {
		return errors.New("asker: a reason or an incident id is required (a lookup of a person's data needs a purpose)")
	}
	return nil
}

// Audit appends e to the audit log and returns nil only when ClickHouse accepted the row.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if strings.TrimSpace(e.Actor) == "" || strings.TrimSpace(e.Action) == "" {
		return errors.New("audit entry: actor and action are required")
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	err := insert(ctx, s, "audit", `INSERT INTO audit (time, actor, action, target, reason, detail)`, []AuditEntry{e},
		func(e AuditEntry) []any { return []any{e.Time, e.Actor, e.Action, e.Target, e.Reason, e.Detail} })
	if err != nil {
		return fmt.Errorf("audit %s of %q: %w", e.Action, e.Target, err)
	}
	return nil
}

// auditLookup validates a lookup and writes its audit row; the lookup must not read data
// unless this returns nil.
func (s *Store) auditLookup(ctx context.Context, ask Asker, action, target string, from, to time.Time, extra string) error {
	if err := ask.Validate(); err != nil {
		return err
	}
	if err := validWindow(target, from, to); err != nil {
		return err
	}
	detail := fmt.Sprintf("window=[%s, %s)", from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
	if ask.Incident != "" {
		detail += " incident=" + ask.Incident
	}
	if extra != "" {
		detail += " " + extra
	}
	if err := s.Audit(ctx, AuditEntry{Actor: ask.Who, Action: action, Target: target, Reason: ask.Why, Detail: detail}); err != nil {
		return fmt.Errorf("lookup refused, it could not be audited: %w", err)
	}
	return nil
}

// MaxWindow is the longest window a history lookup accepts (the default event retention).
const MaxWindow = DefaultEventRetentionDays * 24 * time.Hour

// validWindow checks the account or person and the half-open window [from, to).
func validWindow(who string, from, to time.Time) error {
	switch {
	case strings.TrimSpace(who) == "":
		return errors.New("lookup: the account or person is required")
	case from.IsZero() || to.IsZero():
		return errors.New("lookup: both ends of the window (from, to) are required")
	case !from.Before(to):
		return fmt.Errorf("lookup: from (%s) must be before to (%s)", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	case to.Sub(from) > MaxWindow:
		return fmt.Errorf("lookup: window of %s is longer than the maximum of %d days", to.Sub(from).Round(time.Hour), DefaultEventRetentionDays)
	}
	return nil
}

// AuditLog returns the audit rows of [from, to) in time order, at most limit (default 1000).
// Reading the audit log is not itself audited.
func (s *Store) AuditLog(ctx context.Context, from, to time.Time, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	params := windowParams(from, to)
	params["limit"] = fmt.Sprint(limit)
	return queryAll(withParams(ctx, params), s.conn, "read audit log", `SELECT time, actor, action, target, reason, detail FROM audit
		WHERE `+window+`
		ORDER BY time LIMIT {limit:UInt32}`, func(e *AuditEntry) []any {
		return []any{&e.Time, &e.Actor, &e.Action, &e.Target, &e.Reason, &e.Detail}
	})
}
