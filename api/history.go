package api

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"breachd/auth"
	"breachd/history"
	"breachd/output"
)

// lookups are the history lookups of GET /api/history/{lookup}.
var lookups = []string{history.LookupLogins, history.LookupAccess, history.LookupSubject, history.LookupTimeline}

// asker is p asking, for the audit log: the signed-in identity and the purpose.
func asker(p *auth.Principal, why, incident string) history.Asker {
	return history.Asker{Who: p.Actor(), Issuer: p.Issuer, Subject: p.Subject, Roles: p.RoleNames(), Why: why, Incident: incident}
}

// historyLookup is one audited lookup (history.Store.Lookup) of an account (for subject: a
// person) of the caller's organisations; another organisation's is 404. Its rows come in one
// answer, not in pages: a page would be a second lookup, run and audited again. limit is the
// timeline's row limit (history.DefaultTimelineLimit, at most history.MaxTimelineLimit).
func (s *Server) historyLookup(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	lookup := r.PathValue("lookup")
	if !slices.Contains(lookups, lookup) {
		return nil, badRequest("lookup: want one of %s", strings.Join(lookups, ", "))
	}
	q := newQuery(r)
	account := q.str("account")
	from := q.time("from", time.Time{})
	to := q.time("to", q.now.UTC())
	reason, incident := strings.TrimSpace(q.str("reason")), q.str("incident")
	summary := q.bool("summary")
	limit := q.int("limit", 0, 1, history.MaxTimelineLimit)
	switch {
	case q.err != nil:
		return nil, q.err
	case from.IsZero():
		return nil, badRequest("from: the start of the window is required")
	case !from.Before(to):
		return nil, badRequest("from (%s) must be before to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	case to.Sub(from) > history.MaxWindow:
		return nil, badRequest("the window is longer than the maximum of %d days", history.MaxWindow/(24*time.Hour))
	case reason == "" && incident == "":
		return nil, badRequest("reason: why you look is required unless incident is given (a lookup of a person's data needs a purpose)")
	case len(reason) > 1000:
		return nil, badRequest("reason: at most 1000 bytes")
	case summary && lookup != history.LookupAccess:
		return nil, badRequest("summary: only for the access lookup")
	case limit != 0 && lookup != history.LookupTimeline:
		return nil, badRequest("limit: only for the timeline (the other lookups answer with every row)")
	case q.str("cursor") != "":
		return nil, badRequest("cursor: a lookup answers with every row at once")
	}
	if err := checkName("account", account); err != nil {
		return nil, err
	}
	if err := checkText(reason, "reason"); err != nil {
		return nil, err
	}
	if incident != "" {
		if _, err := incidentIDOf(incident); err != nil {
			return nil, err
		}
	}
	t, err := s.cfg.History.Lookup(r.Context(), history.LookupRequest{
		Lookup: lookup, Who: account, From: from, To: to, Summary: summary, Limit: limit,
		Ask: asker(p, reason, incident), Scope: p.ScopeFor(auth.HistoryLookup),
	})
	if err != nil {
		return nil, err
	}
	return rowsPage(t, page{limit: len(t.Rows)}), nil
}

// historySQL runs one read-only statement (audited first with the caller's identity).
func (s *Server) historySQL(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	var b struct {
		Statement string `json:"statement"`
		Reason    string `json:"reason"`
		MaxRows   int    `json:"max_rows"`
		Timeout   string `json:"timeout"`
	}
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	lim := history.SQLLimits{MaxRows: 10000, Timeout: 30 * time.Second}
	switch {
	case strings.TrimSpace(b.Statement) == "":
		return nil, badRequest("statement is required")
	case strings.TrimSpace(b.Reason) == "":
		return nil, badRequest("reason: why you run it is required (the statement is audited with it)")
	case b.MaxRows < 0 || b.MaxRows > 100000:
		return nil, badRequest("max_rows: want 1 to 100000 (0: 10000)")
	case b.MaxRows > 0:
		lim.MaxRows = b.MaxRows
	}
	if b.Timeout != "" {
		d, err := time.ParseDuration(b.Timeout)
		if err != nil || d <= 0 || d > s.cfg.Timeout {
			return nil, badRequest("timeout: want a duration up to %s (the request's own limit), such as 30s", s.cfg.Timeout)
		}
		lim.Timeout = d
	}
	t, err := s.cfg.History.AuditedSQL(r.Context(), asker(p, b.Reason, ""), b.Statement, lim)
	if err != nil {
		return nil, err
	}
	return rowsPage(t, page{limit: lim.MaxRows}), nil
}

// audit is the audit view: who looked up whose history, when, why; of the caller's
// organisations.
func (s *Server) audit(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	q := newQuery(r)
	to := q.time("to", q.now.UTC())
	from := q.time("from", to.Add(-30*24*time.Hour))
	pg := q.page()
	if q.err != nil {
		return nil, q.err
	}
	if pg.offset > 0 && q.str("to") == "" { // the window must not move between pages
		return nil, badRequest("to: give the end of the window when paging (the next page of a window ending now would skip rows)")
	}
	if !from.Before(to) {
		return nil, badRequest("from must be before to")
	}
	// one row more than the page: whether there is a next one
	es, err := s.cfg.History.AuditLog(r.Context(), p.ScopeFor(auth.AuditRead), from, to, pg.limit+1, pg.offset)
	if err != nil {
		return nil, err
	}
	out := rowsPage(output.RowsOf(auditColumns, es[:min(len(es), pg.limit)], auditRow), page{limit: pg.limit})
	out.Total = pg.offset + len(out.Rows)
	if len(es) > pg.limit {
		out.Next = cursor(pg.offset + pg.limit)
		out.Total++ // at least
	}
	return out, nil
}

// auditColumns are the columns of the audit view.
var auditColumns = []string{"time", "actor", "issuer", "subject", "roles", "action", "target", "org", "reason", "detail"}

func auditRow(e history.AuditEntry) []any {
	return []any{e.Time, e.Actor, e.Issuer, e.Subject, e.Roles, e.Action, e.Target, e.Org, e.Reason, e.Detail}
}
