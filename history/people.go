package history

import (
	"context"
	"encoding/json"
	"fmt"

	"breachd/event"
)

// PeopleCategories counts subjects, people of org, by their latest primary affiliation in the
// directory ("" for people without a directory record): the categories of people of an Art. 33
// report. It reads personal data: the caller audits the lookup first.
func (s *Store) PeopleCategories(ctx context.Context, org string, subjects []string) (map[string]uint64, error) {
	out := map[string]uint64{}
	if len(subjects) == 0 {
		return out, nil
	}
	rows, err := s.conn.Query(ctx, `SELECT primary_affiliation, count() FROM (
		SELECT user, argMax(primary_affiliation, time) AS primary_affiliation FROM directory_events FINAL
		WHERE org = ? AND op = 'person' AND has(?, user) GROUP BY user) GROUP BY primary_affiliation`, org, subjects)
	if err != nil {
		return nil, fmt.Errorf("categories of people: %w", err)
	}
	defer rows.Close()
	var found uint64
	for rows.Next() {
		var aff string
		var n uint64
		if err := rows.Scan(&aff, &n); err != nil {
			return nil, fmt.Errorf("categories of people: %w", err)
		}
		out[aff] += n
		found += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("categories of people: %w", err)
	}
	if rest := uint64(len(subjects)) - found; found <= uint64(len(subjects)) && rest > 0 {
		out[""] += rest
	}
	return out, nil
}

// maxPeopleLookup bounds the subjects whose affiliation one report looks up.
const maxPeopleLookup = 100000

// ReportPeople counts the people of the latest access snapshot among evs by their latest
// directory primary affiliation (PeopleCategories), for the Art. 33 report of inc; nil when
// there is no access snapshot. The lookup reads personal data and is audited first, as ask
// (Who and the identity; the purpose is the report).
func (s *Store) ReportPeople(ctx context.Context, ask Asker, inc *event.Incident, evs []Evidence) (map[string]uint64, error) {
	var latest *Evidence
	for i := range evs {
		if evs[i].Kind == EvidenceAccess && (latest == nil || !evs[i].Taken.Before(latest.Taken)) {
			latest = &evs[i]
		}
	}
	if latest == nil {
		return nil, nil
	}
	var sum AccessSummary
	if err := json.Unmarshal([]byte(latest.Content), &sum); err != nil {
		return nil, fmt.Errorf("access evidence %s: %w", latest.ID, err)
	}
	seen := map[string]bool{}
	subjects := []string{}
	for _, r := range sum.Rows {
		if !seen[r.Subject] && len(subjects) < maxPeopleLookup {
			seen[r.Subject] = true
			subjects = append(subjects, r.Subject)
		}
	}
	ask.Why = "Art. 33 report of incident " + inc.ID
	if err := s.Audit(ctx, ask.Entry("incidents.report", inc.Account, inc.Org,
		fmt.Sprintf("incident=%s categories of %d people from evidence %s", inc.ID, len(subjects), latest.ID))); err != nil {
		return nil, fmt.Errorf("report refused, the lookup of the people's categories: %w: %w", ErrAudit, err)
	}
	return s.PeopleCategories(ctx, inc.Org, subjects)
}
