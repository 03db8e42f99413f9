package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"breachd/backtest"
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

// BacktestRequest is the body of POST /api/rules/backtest: the range, the rule ids to report
// (empty: all) and, to try rules not yet deployed, a rule file's text (empty: the server's
// pack).
type BacktestRequest struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Rules    []string  `json:"rules,omitempty"`
	RuleText string    `json:"rule_text,omitempty"`
}

// Backtest is POST /api/rules/backtest: what the rules would have raised in the range.
func (c *Client) Backtest(ctx context.Context, r BacktestRequest) (*backtest.Report, error) {
	b, err := c.Raw(ctx, http.MethodPost, "/api/rules/backtest", nil, r)
	if err != nil {
		return nil, err
	}
	var rep backtest.Report
	var durations struct { // backtest.Report.MarshalJSON's readable forms
		Warmup   string  `json:"warmup"`
		Duration float64 `json:"duration_seconds"`
	}
	if err := errors.Join(json.Unmarshal(b, &rep), json.Unmarshal(b, &durations)); err != nil {
		return nil, fmt.Errorf("POST /api/rules/backtest: the answer is not a backtest report: %w", err)
	}
	if durations.Warmup != "" {
		if rep.Warmup, err = time.ParseDuration(durations.Warmup); err != nil {
			return nil, fmt.Errorf("POST /api/rules/backtest: warmup: %w", err)
		}
	}
	rep.Duration = time.Duration(durations.Duration * float64(time.Second))
	return &rep, nil
}
