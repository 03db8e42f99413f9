package history

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"breachd/event"
)

// UpsertIncident mirrors an incident from the notifier's NATS state; the table keeps the row of
// the highest Version, so mirroring an older or the same version again changes nothing.
func (s *Store) UpsertIncident(ctx context.Context, inc *event.Incident) error {
	doc, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("marshal incident %s: %w", inc.ID, err)
	}
	rules := make([]string, 0, len(inc.Rules))
	for r := range inc.Rules {
		rules = append(rules, r)
	}
	slices.Sort(rules)
	return insert(ctx, s, "incidents", `INSERT INTO incidents (id, org, account, state, severity, opened, aware, deadline, updated,
		first_seen, last_seen, alert_count, subjects, rules, summary, version, doc)`, []*event.Incident{inc},
		func(i *event.Incident) []any {
			return []any{i.ID, i.Org, i.Account, i.State, string(i.Severity), i.Opened, i.Aware, i.Deadline, i.Updated,
				i.FirstSeen, i.LastSeen, uint64(max(i.AlertCount, 0)), uint64(len(i.Subjects)), rules, i.Summary, uint64(max(i.Version, 0)), string(doc)}
		})
}
