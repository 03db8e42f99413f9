package history

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Evidence is one snapshot of what history said about an incident's account: the answer of
// one lookup (Kind EvidenceLogins or EvidenceAccess) over [From, To), with the query that produced
// it and the SHA-256 of its content, so that what a report relied on can be shown later to be
// unchanged.
type Evidence struct {
	ID       string
	Incident string
	Kind     string
	Taken    time.Time
	Account  string
	From, To time.Time
	Query    string // the SQL, with its parameters listed after it
	Rows     int
	SHA256   string // of Content
	Content  string // the answer as JSON
}

// NewEvidence builds a snapshot of answer (marshalled as JSON) and hashes it.
func NewEvidence(incident, kind, account string, from, to, taken time.Time, rows int, answer any) (Evidence, error) {
	content, err := json.Marshal(answer)
	if err != nil {
		return Evidence{}, fmt.Errorf("evidence %s of %s: %w", kind, incident, err)
	}
	h := sha256.Sum256(content)
	ev := Evidence{Incident: incident, Kind: kind, Taken: taken.UTC(), Account: account, From: from.UTC(), To: to.UTC(),
		Rows: rows, SHA256: hex.EncodeToString(h[:]), Content: string(content)}
	ev.Query = fmt.Sprintf("%s\n-- account=%q from_t=%s to_t=%s all=1 orgs=[]", QueryText(kind), account,
		ev.From.Format(time.RFC3339Nano), ev.To.Format(time.RFC3339Nano))
	ev.ID = fmt.Sprintf("%s-%s-%d", incident, kind, ev.Taken.UnixMilli())
	return ev, nil
}

// Verify recomputes the hash of the content and reports whether it matches.
func (e *Evidence) Verify() bool {
	h := sha256.Sum256([]byte(e.Content))
	return hex.EncodeToString(h[:]) == e.SHA256
}

// SaveEvidence stores a snapshot. Saving the same snapshot twice collapses to one row.
func (s *Store) SaveEvidence(ctx context.Context, e Evidence) error {
	if err := insert(ctx, s, "evidence", evidenceColumns, []Evidence{e}); err != nil {
		return fmt.Errorf("save evidence %s: %w", e.ID, err)
	}
	return nil
}

var evidenceColumns = []column[Evidence]{
	col("id", func(e Evidence) string { return e.ID }),
	col("incident", func(e Evidence) string { return e.Incident }),
	col("kind", func(e Evidence) string { return e.Kind }),
	col("taken", func(e Evidence) time.Time { return e.Taken }),
	col("account", func(e Evidence) string { return e.Account }),
	col("from_t", func(e Evidence) time.Time { return e.From }),
	col("to_t", func(e Evidence) time.Time { return e.To }),
	col("query", func(e Evidence) string { return e.Query }),
	col("rows", func(e Evidence) uint32 { return uint32(e.Rows) }),
	col("sha256", func(e Evidence) string { return e.SHA256 }),
	col("content", func(e Evidence) string { return e.Content }),
}

// EvidenceOf returns the snapshots of an incident, oldest first.
func (s *Store) EvidenceOf(ctx context.Context, incident string) ([]Evidence, error) {
	type row struct {
		Evidence
		rows uint32 // the column's type
	}
	rs, err := queryAll(withParams(ctx, map[string]string{"incident": incident}), s.conn, "evidence of "+incident,
		`SELECT id, incident, kind, taken, account, from_t, to_t, query, rows, sha256, content
		FROM evidence FINAL WHERE incident = {incident:String} ORDER BY taken, id`, func(r *row) []any {
			return []any{&r.ID, &r.Incident, &r.Kind, &r.Taken, &r.Account, &r.From, &r.To, &r.Query, &r.rows, &r.SHA256, &r.Content}
		})
	if err != nil {
		return nil, err
	}
	out := make([]Evidence, len(rs))
	for i, r := range rs {
		out[i] = r.Evidence
		out[i].Rows = int(r.rows)
	}
	return out, nil
}
