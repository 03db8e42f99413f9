package history

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"breachd/event"
)

// Audit actions written by this package and by the CLI.
const (
	AuditLogins   = "history.logins"
	AuditAccess   = "history.access"
	AuditSubject  = "history.subject"
	AuditTimeline = "history.timeline"
	AuditSQL      = "history.sql"
	AuditBacktest = "rules.backtest" // a backtest of a rule text of the asker's own (the API)

	// AuditRefused is appended to the action of a lookup refused because its account or
	// person is outside the asker's scope ("history.logins.refused").
	AuditRefused = ".refused"
)

// ErrAudit is wrapped by the error of a lookup or statement refused because its audit row could
// not be written: no data was read.
var ErrAudit = errors.New("it could not be audited")

// AuditEntry is one row of the audit log: who did what to whom, and why. Issuer, Subject and
// Roles are the signed-in identity of the actor (auth.Principal), never a name the actor chose;
// Org is the organisation of the target, so a DPO's scoped view of the log shows the lookups
// of their organisation's accounts.
type AuditEntry struct {
	Time    time.Time // zero: now
	Actor   string    // who asked, as people read it (auth.Principal.Actor; a service's name)
	Issuer  string    // who vouches for Subject (auth.Issuer*, an OIDC issuer URL); "" for a service
	Subject string    // the actor's stable id at Issuer
	Roles   []string  // the actor's roles when it asked
	Action  string    // what was done, e.g. AuditLogins
	Target  string    // whose history (an account or a person), or what was touched
	Org     string    // the target's organisation ("" when it has none, e.g. a statement over all of them)
	Reason  string    // the purpose given by the actor
	Detail  string    // the rest: window, incident id, statement text
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
	err := insert(ctx, s, "audit", auditColumns, []AuditEntry{e})
	if err != nil {
		return fmt.Errorf("audit %s of %q: %w", e.Action, e.Target, err)
	}
	return nil
}

var auditColumns = []column[AuditEntry]{
	col("time", func(e AuditEntry) time.Time { return e.Time }),
	col("actor", func(e AuditEntry) string { return e.Actor }),
	col("issuer", func(e AuditEntry) string { return e.Issuer }),
	col("subject", func(e AuditEntry) string { return e.Subject }),
	col("roles", func(e AuditEntry) []string { return nonNil(e.Roles) }),
	col("action", func(e AuditEntry) string { return e.Action }),
	col("target", func(e AuditEntry) string { return e.Target }),
	col("org", func(e AuditEntry) string { return e.Org }),
	col("reason", func(e AuditEntry) string { return e.Reason }),
	col("detail", func(e AuditEntry) string { return e.Detail }),
}

// Entry is the audit row of a lookup by a: its identity, with action and target.
func (a Asker) Entry(action, target, org, detail string) AuditEntry {
	return AuditEntry{Actor: a.Who, Issuer: a.Issuer, Subject: a.Subject, Roles: a.Roles, Action: action, Target: target,
		Org: org, Reason: a.Why, Detail: detail}
}

// admit lets a lookup of target by ask within scope read data: it validates the request,
// checks that target is in scope (targetOrg), and writes the lookup's audit row. The lookup
// must not read data unless this returns nil. A target outside the scope is refused with
// ErrNotInScope, and the refusal is audited as action + ".refused" so that probing shows.
func (s *Store) admit(ctx context.Context, scope event.Scope, ask Asker, action, target string, from, to time.Time, extra string) error {
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
	org, err := s.targetOrg(ctx, scope, target)
	if errors.Is(err, ErrNotInScope) {
		if aerr := s.Audit(ctx, ask.Entry(action+AuditRefused, target, Realm(target), detail)); aerr != nil {
			return fmt.Errorf("%w (and the refusal %w: %v)", err, ErrAudit, aerr)
		}
		return err
	}
	if err != nil {
		return err
	}
	if err := s.Audit(ctx, ask.Entry(action, target, org, detail)); err != nil {
		return fmt.Errorf("lookup refused, %w: %w", ErrAudit, err)
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

// AuditLog returns the audit rows of [from, to) whose target's organisation is in scope (all
// of them for event.Everywhere; none for the zero Scope), in time order, at most limit
// (default 1000) after skipping offset rows (the next page: offset + len of this one).
// Reading the audit log is not itself audited.
func (s *Store) AuditLog(ctx context.Context, scope event.Scope, from, to time.Time, limit, offset int) ([]AuditEntry, error) {
	if scope.Empty() {
		return nil, nil
	}
	if limit <= 0 {
		limit = 1000
	}
	params := windowParams(from, to)
	scopeParams(params, scope)
	params["limit"], params["offset"] = fmt.Sprint(limit), fmt.Sprint(max(offset, 0))
	return queryAll(withParams(ctx, params), s.conn, "read audit log", `SELECT time, actor, issuer, subject, roles, action, target, org, reason, detail
		FROM audit WHERE `+window+inScope+`
		ORDER BY time, actor, action, target, detail LIMIT {limit:UInt32} OFFSET {offset:UInt64}`, func(e *AuditEntry) []any {
		return []any{&e.Time, &e.Actor, &e.Issuer, &e.Subject, &e.Roles, &e.Action, &e.Target, &e.Org, &e.Reason, &e.Detail}
	})
}
