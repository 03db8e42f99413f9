package history

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

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
	row := incidentRow{inc, rules, string(doc)}
	return insert(ctx, s, "incidents", incidentColumns, []incidentRow{row})
}

// incidentRow is an incident as the incidents table stores it.
type incidentRow struct {
	*event.Incident
	rules []string // sorted
	doc   string   // the incident as JSON
}

var incidentColumns = []column[incidentRow]{
	col("id", func(i incidentRow) string { return i.ID }),
	col("org", func(i incidentRow) string { return i.Org }),
	col("account", func(i incidentRow) string { return i.Account }),
	col("state", func(i incidentRow) string { return i.State }),
	col("severity", func(i incidentRow) string { return string(i.Severity) }),
	col("opened", func(i incidentRow) time.Time { return i.Opened }),
	col("aware", func(i incidentRow) time.Time { return i.Aware }),
	col("deadline", func(i incidentRow) time.Time { return i.Deadline }),
	col("updated", func(i incidentRow) time.Time { return i.Updated }),
	col("first_seen", func(i incidentRow) time.Time { return i.FirstSeen }),
	col("last_seen", func(i incidentRow) time.Time { return i.LastSeen }),
	col("alert_count", func(i incidentRow) uint64 { return uint64(max(i.AlertCount, 0)) }),
	col("subjects", func(i incidentRow) uint64 { return uint64(len(i.Subjects)) }),
	col("rules", func(i incidentRow) []string { return i.rules }),
	col("summary", func(i incidentRow) string { return i.Summary }),
	col("version", func(i incidentRow) uint64 { return uint64(max(i.Version, 0)) }),
	col("doc", func(i incidentRow) string { return i.doc }),
}
