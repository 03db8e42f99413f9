package history

import (
	"context"
	"fmt"
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
