package history

import (
	"context"
	"time"

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
	if err := insert(ctx, s, "auth_events", authColumns, auth); err != nil {
		return err
	}
	if err := insert(ctx, s, "access_events", accessColumns, access); err != nil {
		return err
	}
	return insert(ctx, s, "directory_events", directoryColumns, dir)
}

// The columns each event kind writes.
var (
	authColumns = []column[*event.Event]{
		col("id", func(e *event.Event) string { return e.ID }),
		col("time", func(e *event.Event) time.Time { return e.Time }),
		col("org", func(e *event.Event) string { return e.Org }),
		col("user", func(e *event.Event) string { return e.User }),
		col("service", func(e *event.Event) string { return e.Service }),
		col("service_name", func(e *event.Event) string { return e.ServiceName }),
		col("result", func(e *event.Event) string { return e.Result }),
		col("method", func(e *event.Event) string { return e.Method }),
		col("ip", func(e *event.Event) string { return e.IP }),
		col("country", func(e *event.Event) string { return e.Country }),
		col("user_agent", func(e *event.Event) string { return e.UserAgent }),
	}
	accessColumns = []column[*event.Event]{
		col("id", func(e *event.Event) string { return e.ID }),
		col("time", func(e *event.Event) time.Time { return e.Time }),
		col("org", func(e *event.Event) string { return e.Org }),
		col("actor", func(e *event.Event) string { return e.Actor }),
		col("actor_role", func(e *event.Event) string { return e.ActorRole }),
		col("action", func(e *event.Event) string { return e.Action }),
		col("subject", func(e *event.Event) string { return e.Subject }),
		col("resource", func(e *event.Event) string { return e.Resource }),
		col("service", func(e *event.Event) string { return e.Service }),
		col("group", func(e *event.Event) string { return e.Group }),
		col("records", func(e *event.Event) uint64 { return uint64(max(e.Records, 1)) }),
		col("ip", func(e *event.Event) string { return e.IP }),
		col("country", func(e *event.Event) string { return e.Country }),
	}
	directoryColumns = []column[*event.Event]{
		col("id", func(e *event.Event) string { return e.ID }),
		col("time", func(e *event.Event) time.Time { return e.Time }),
		col("org", func(e *event.Event) string { return e.Org }),
		col("op", func(e *event.Event) string { return e.Op }),
		col("user", func(e *event.Event) string { return e.User }),
		col("affiliations", func(e *event.Event) []string { return nonNil(e.Affiliations) }),
		col("primary_affiliation", func(e *event.Event) string { return e.PrimaryAffiliation }),
		col("schools", func(e *event.Event) []string { return nonNil(e.Schools) }),
		col("nin_hash", func(e *event.Event) string { return e.NINHash }),
		col("hidden_identity", func(e *event.Event) bool { return e.HiddenIdentity }),
		col("active", func(e *event.Event) bool { return e.IsActive() }),
		col("group", func(e *event.Event) string { return e.Group }),
		col("go_type", func(e *event.Event) string { return e.GoType }),
		col("role", func(e *event.Event) string { return e.Role }),
		col("contact_teacher", func(e *event.Event) bool { return e.ContactTeacher }),
		col("school", func(e *event.Event) string { return e.School }),
		col("change", func(e *event.Event) string { return e.Change }),
		col("guardian", func(e *event.Event) string { return e.Guardian }),
		col("child", func(e *event.Event) string { return e.Child }),
		col("status", func(e *event.Event) string { return e.Status }),
	}
)

// WriteAlerts inserts alerts; the same alert id written twice collapses to one row.
func (s *Store) WriteAlerts(ctx context.Context, alerts []event.Alert) error {
	ptrs := make([]*event.Alert, len(alerts))
	for i := range alerts {
		ptrs[i] = &alerts[i]
	}
	return insert(ctx, s, "alerts", alertColumns, ptrs)
}

var alertColumns = []column[*event.Alert]{
	col("id", func(a *event.Alert) string { return a.ID }),
	col("rule_id", func(a *event.Alert) string { return a.RuleID }),
	col("title", func(a *event.Alert) string { return a.Title }),
	col("severity", func(a *event.Alert) string { return string(a.Severity) }),
	col("tags", func(a *event.Alert) []string { return nonNil(a.Tags) }),
	col("org", func(a *event.Alert) string { return a.Org }),
	col("account", func(a *event.Alert) string { return a.Account }),
	col("subject", func(a *event.Alert) string { return a.Subject }),
	col("event_id", func(a *event.Alert) string { return a.EventID }),
	col("event_kind", func(a *event.Alert) string { return string(a.EventKind) }),
	col("event_time", func(a *event.Alert) time.Time { return a.EventTime }),
	col("detected", func(a *event.Alert) time.Time { return a.Detected }),
	col("summary", func(a *event.Alert) string { return a.Summary }),
	col("respond", func(a *event.Alert) bool { return a.Respond }),
	col("suppressed", func(a *event.Alert) uint64 { return uint64(max(a.Suppressed, 0)) }),
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
