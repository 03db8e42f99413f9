package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"time"

	"breachd/output"
)

// MaxPages bounds how many pages Rows follows, so a server handing out cursors forever cannot
// keep the client fetching.
const MaxPages = 10_000

// page is a row result of the API: the rows of one page under columns, with the cursor of the
// next page (empty: the last).
type page struct {
	Columns []string         `json:"columns"`
	Rows    []map[string]any `json:"rows"`
	Footer  string           `json:"footer"`
	Total   *json.Number     `json:"total"`
	Next    string           `json:"next"`
}

// Rows calls a route answering a row result and returns every row of every page (following
// the "next" cursors as ?cursor=) as output.Rows, the shape the command prints in direct mode:
// each row's values in column order; JSON numbers as json.Number; a string that is an RFC 3339
// time (as the server writes time values) as time.Time; the footer of the last page.
func (c *Client) Rows(ctx context.Context, method, path string, query url.Values, body any) (*output.Rows, error) {
	var out *output.Rows
	q := url.Values{}
	for k, v := range query {
		q[k] = slices.Clone(v)
	}
	for n := 0; ; n++ {
		if n == MaxPages {
			return nil, fmt.Errorf("%s %s: more than %d pages", method, path, MaxPages)
		}
		var p page
		if err := c.Do(ctx, method, path, q, body, &p); err != nil {
			return nil, err
		}
		if out == nil {
			out = &output.Rows{Columns: p.Columns, Rows: make([][]any, 0, len(p.Rows))}
		} else if !slices.Equal(out.Columns, p.Columns) {
			return nil, fmt.Errorf("%s %s: page %d has columns %q, the first had %q", method, path, n+1, p.Columns, out.Columns)
		}
		for _, obj := range p.Rows {
			row := make([]any, len(p.Columns))
			for i, col := range p.Columns {
				row[i] = value(obj[col])
			}
			out.Rows = append(out.Rows, row)
		}
		out.Footer = p.Footer
		if p.Next == "" {
			if p.Total != nil {
				if t, err := p.Total.Int64(); err == nil && t != int64(len(out.Rows)) {
					return nil, fmt.Errorf("%s %s: the server counted %d rows but sent %d (did the data change while paging? run it again)", method, path, t, len(out.Rows))
				}
			}
			return out, nil
		}
		if q.Get("cursor") == p.Next {
			return nil, fmt.Errorf("%s %s: the server gave the same cursor twice", method, path)
		}
		q.Set("cursor", p.Next)
	}
}

// value is v as direct mode has it: an RFC 3339 time string (one that reads back exactly as
// written, so other text is left alone) as time.Time.
func value(v any) any {
	s, ok := v.(string)
	if !ok || len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[10] != 'T' {
		return v
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Format(time.RFC3339Nano) != s {
		return v
	}
	return t
}
