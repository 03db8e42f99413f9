package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"breachd/history"
	"breachd/ingest/dlq"
	"breachd/output"
)

// Lookup is GET /api/history/{lookup}: an audited lookup of one account's (or person's)
// history, recorded under the signed-in identity with r.Ask's reason and incident.
func (c *Client) Lookup(ctx context.Context, r history.LookupRequest) (*output.Rows, error) {
	q := url.Values{"account": {r.Who}, "from": {r.From.UTC().Format(time.RFC3339Nano)}, "to": {r.To.UTC().Format(time.RFC3339Nano)}}
	setNonEmpty(q, "reason", r.Ask.Why)
	setNonEmpty(q, "incident", r.Ask.Incident)
	setInt(q, "limit", r.Limit)
	if r.Summary {
		q.Set("summary", "true")
	}
	return c.Rows(ctx, http.MethodGet, "/api/history/"+url.PathEscape(r.Lookup), q, nil)
}

// SQL is POST /api/history/sql: one read-only statement, audited with reason.
func (c *Client) SQL(ctx context.Context, reason, stmt string, lim history.SQLLimits) (*output.Rows, error) {
	body := map[string]any{"statement": stmt, "reason": reason, "max_rows": lim.MaxRows}
	if lim.Timeout > 0 {
		body["timeout"] = lim.Timeout.String()
	}
	return c.Rows(ctx, http.MethodPost, "/api/history/sql", nil, body)
}

// DeadLetters is GET /api/dlq: the letters f selects.
func (c *Client) DeadLetters(ctx context.Context, f dlq.FilterSpec) (*output.Rows, error) {
	q := url.Values{}
	setNonEmpty(q, "source", f.Source)
	setNonEmpty(q, "since", f.Since)
	setNonEmpty(q, "until", f.Until)
	setNonEmpty(q, "reason", f.Reason)
	setInt(q, "limit", f.Limit)
	rows, err := c.Rows(ctx, http.MethodGet, "/api/dlq", q, nil)
	if err != nil {
		return nil, err
	}
	rows.Plain = true // as dlq.Listing's table
	return rows, nil
}

// Replay is POST /api/dlq/replay: submits letters again (seqs, or all that f selects).
func (c *Client) Replay(ctx context.Context, seqs []uint64, all bool, f dlq.FilterSpec, formatIn string, del, dryRun bool) (*dlq.ReplayReport, error) {
	body := map[string]any{"seqs": seqs, "all": all, "source": f.Source, "since": f.Since, "until": f.Until, "reason": f.Reason,
		"limit": f.Limit, "format_in": formatIn, "delete": del, "dry_run": dryRun}
	var rep dlq.ReplayReport
	if err := c.Do(ctx, http.MethodPost, "/api/dlq/replay", nil, body, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}
