package history

import (
	"context"
	"fmt"

	"breachd/event"
)

// WriteEvents inserts evs, one batch per table, and returns nil only when ClickHouse accepted
// every batch. Writing the same events again is harmless: the tables collapse rows with the same
// account, time and id.
func (s *Store) WriteEvents(ctx context.Context, evs []*event.Event) error {
	var auth, access, dir []*event.Event
	for _, e := range evs {
		switch e.Kind {
		case event.KindAuth:
			auth = append(auth, e)
		case event.KindAccess:
			access = append(access, e)
		case event.KindDirectory:
			dir = append(dir, e)
		}
	}
	if err := insert(ctx, s, "auth_events", `INSERT INTO auth_events (id, time, org, user, service, service_name, result, method, ip, country, user_agent)`, auth,
		func(e *event.Event) []any {
			return []any{e.ID, e.Time, e.Org, e.User, e.Service, e.ServiceName, e.Result, e.Method, e.IP, e.Country, e.UserAgent}
		}); err != nil {
		return err
	}
	if err := insert(ctx, s, "access_events", `INSERT INTO access_events (id, time, org, actor, actor_role, action, subject, resource, service, group, records, ip, country)`, access,
		func(e *event.Event) []any {
			return []any{e.ID, e.Time, e.Org, e.Actor, e.ActorRole, e.Action, e.Subject, e.Resource, e.Service, e.Group, uint64(max(e.Records, 1)), e.IP, e.Country}
		}); err != nil {
		return err
	}
	return insert(ctx, s, "directory_events", `INSERT INTO directory_events (id, time, org, op, user, affiliations, primary_affiliation, schools, nin_hash, hidden_identity, active, group, go_type, role, contact_teacher, school, change, guardian, child, status)`, dir,
		func(e *event.Event) []any {
			return []any{e.ID, e.Time, e.Org, e.Op, e.User, nonNil(e.Affiliations), e.PrimaryAffiliation, nonNil(e.Schools), e.NINHash, e.HiddenIdentity, e.IsActive(),
				e.Group, e.GoType, e.Role, e.ContactTeacher, e.School, e.Change, e.Guardian, e.Child, e.Status}
		})
}

// WriteAlerts inserts alerts; the same alert id written twice collapses to one row.
func (s *Store) WriteAlerts(ctx context.Context, alerts []event.Alert) error {
	ptrs := make([]*event.Alert, len(alerts))
	for i := range alerts {
		ptrs[i] = &alerts[i]
	}
	return insert(ctx, s, "alerts", `INSERT INTO alerts (id, rule_id, title, severity, tags, org, account, subject, event_id, event_kind, event_time, detected, summary, respond, suppressed)`, ptrs,
		func(a *event.Alert) []any {
			return []any{a.ID, a.RuleID, a.Title, string(a.Severity), nonNil(a.Tags), a.Org, a.Account, a.Subject, a.EventID, string(a.EventKind),
				a.EventTime, a.Detected, a.Summary, a.Respond, uint64(max(a.Suppressed, 0))}
		})
}

func insert[T any](ctx context.Context, s *Store, table, stmt string, rows []T, values func(T) []any) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := s.conn.PrepareBatch(ctx, stmt)
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", table, err)
	}
	defer batch.Abort() //nolint:errcheck // no-op after Send
	for _, r := range rows {
		if err := batch.Append(values(r)...); err != nil {
			return fmt.Errorf("append to %s: %w", table, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", len(rows), table, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
