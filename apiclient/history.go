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
// history, recorded under the signed-in identity with r.Ask's reason and incident. limit is
// sent only for the timeline (r.Limit, at most history.MaxTimelineLimit).
func (c *Client) Lookup(ctx context.Context, r history.LookupRequest) (*output.Rows, error) {
	q := url.Values{"account": {r.Who}, "from": {r.From.UTC().Format(time.RFC3339Nano)}, "to": {r.To.UTC().Format(time.RFC3339Nano)}}
	setNonEmpty(q, "reason", r.Ask.Why)
	setNonEmpty(q, "incident", r.Ask.Incident)
	if r.Lookup == history.LookupTimeline { // the timeline's row limit; other lookups answer every row in one page
		setInt(q, "limit", r.Limit)
	}
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

// DeadLetters is GET /api/dlq: the letters f selects (at most f.Limit, 0: the server's
// default) and whether more match, as dlq.Page returns them in direct mode. f's times are
// sent as instants (RFC 3339), so the server reads them as the caller resolved them.
func (c *Client) DeadLetters(ctx context.Context, f dlq.Filter) (dlq.Listing, error) {
	q := url.Values{}
	setFilter(q.Set, f)
	setInt(q, "limit", f.Limit)
	var page struct {
		Letters []dlq.View `json:"letters"`
		More    bool       `json:"more"`
	}
	if err := c.Do(ctx, http.MethodGet, "/api/dlq", q, nil, &page); err != nil {
		return dlq.Listing{}, err
	}
	l := dlq.Listing{Letters: make([]dlq.Letter, len(page.Letters)), More: page.More}
	for i, v := range page.Letters {
		l.Letters[i] = letterOf(v)
	}
	return l, nil
}

// letterOf is the letter v shows (dlq.ViewOf's inverse; the reason group is derived).
func letterOf(v dlq.View) dlq.Letter {
	l := dlq.Letter{Seq: v.Seq, Time: v.Time, Subject: v.Subject, Source: v.Source, Where: v.Where, Reason: v.Reason, Data: v.DataBase64}
	if v.Data != nil {
		l.Data = []byte(*v.Data)
	}
	return l
}

// setFilter sets f's selection (not its limit) with set, times in RFC 3339.
func setFilter(set func(k, v string), f dlq.Filter) {
	for _, kv := range [][2]string{{"source", f.Source}, {"reason", f.ReasonContains}, {"since", rfc3339(f.Since)}, {"until", rfc3339(f.Until)}} {
		if kv[1] != "" {
			set(kv[0], kv[1])
		}
	}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Replay is POST /api/dlq/replay: submits letters again: seqs, or with all the letters f
// selects (up to f.Limit). The server refuses a selection with seqs, so f is sent only with
// all.
func (c *Client) Replay(ctx context.Context, seqs []uint64, all bool, f dlq.Filter, formatIn string, del, dryRun bool) (*dlq.ReplayReport, error) {
	body := map[string]any{"format_in": formatIn, "delete": del, "dry_run": dryRun}
	if all {
		body["all"] = true
		setFilter(func(k, v string) { body[k] = v }, f)
		if f.Limit != 0 {
			body["limit"] = f.Limit
		}
	} else {
		body["seqs"] = seqs
	}
	var rep dlq.ReplayReport
	if err := c.Do(ctx, http.MethodPost, "/api/dlq/replay", nil, body, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// BacktestRequest is the body of POST /api/rules/backtest: the range, the rule ids to report
// (empty: all), to try rules not yet deployed a rule file's text (empty: the server's pack),
// the number of top (rule, account) pairs (nil: the server's default, 20) and the warm-up
// (empty: the longest window of the rules). The server evaluates rules in UTC (localHour()).
type BacktestRequest struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Rules    []string  `json:"rules,omitempty"`
	RuleText string    `json:"rule_text,omitempty"`
	Top      *int      `json:"top,omitempty"`
	Warmup   string    `json:"warmup,omitempty"`
	TZ       string    `json:"tz,omitempty"` // the zone of localHour() in rules
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
