package api

import (
	"net/http"
	"time"

	"breachd/auth"
	"breachd/ingest/dlq"
	"breachd/ingest/format"
)

// filterSpec is the letter selection of the dlq routes, as `breachd dlq` flags give it.
type filterSpec struct {
	Source string `json:"source"`
	Since  string `json:"since"`
	Until  string `json:"until"`
	Reason string `json:"reason"`
	Limit  int    `json:"limit"`
}

func (f filterSpec) filter() (dlq.Filter, error) {
	if f.Limit == 0 {
		f.Limit = defaultLimit
	}
	if f.Limit < 0 || f.Limit > maxLimit {
		return dlq.Filter{}, badRequest("limit: want 1 to %d", maxLimit)
	}
	flt, err := dlq.FilterSpec(f).Filter(time.UTC, time.Now())
	if err != nil {
		return flt, badRequest("%v", err)
	}
	return flt, nil
}

// letters is a page of dead letters: as `breachd dlq list --format json` prints them, and
// whether more match.
type letters struct {
	Letters dlq.Listing `json:"letters"`
	More    bool        `json:"more"`
}

func (s *Server) dlqList(_ http.ResponseWriter, r *http.Request, _ *auth.Principal) (any, error) {
	if s.cfg.JS == nil {
		return nil, &apiError{http.StatusServiceUnavailable, codeUnavailable, "no NATS connection on this server"}
	}
	q := newQuery(r)
	spec := filterSpec{Source: q.str("source"), Since: q.str("since"), Until: q.str("until"), Reason: q.str("reason"),
		Limit: q.int("limit", defaultLimit, 1, maxLimit)}
	if q.err != nil {
		return nil, q.err
	}
	f, err := spec.filter()
	if err != nil {
		return nil, err
	}
	l, err := dlq.Page(r.Context(), s.cfg.JS, f)
	if err != nil {
		return nil, err
	}
	return letters{l, l.More}, nil
}

// dlqReplay submits letters again through the ingest pipeline (dlq.ReplayLetters), with the
// canonical format or format_in (a named format; mapping files stay on the operator's box).
func (s *Server) dlqReplay(_ http.ResponseWriter, r *http.Request, _ *auth.Principal) (any, error) {
	var b struct {
		Seqs []uint64 `json:"seqs"`
		All  bool     `json:"all"`
		filterSpec
		FormatIn string `json:"format_in"`
		DryRun   bool   `json:"dry_run"`
		Delete   bool   `json:"delete"`
	}
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	if s.cfg.JS == nil {
		return nil, &apiError{http.StatusServiceUnavailable, codeUnavailable, "no NATS connection on this server"}
	}
	switch {
	case b.All == (len(b.Seqs) > 0):
		return nil, badRequest("give seqs or all, one of them")
	case len(b.Seqs) > maxLimit:
		return nil, badRequest("seqs: at most %d", maxLimit)
	case !b.All && b.filterSpec != (filterSpec{}):
		return nil, badRequest("source, since, until, reason and limit select letters for all; with seqs leave them out")
	}
	req := dlq.ReplayRequest{Seqs: b.Seqs, All: b.All}
	var err error
	if req.Filter, err = b.filter(); err != nil {
		return nil, err
	}
	if req.Options.Format, err = format.Select(b.FormatIn, "", false); err != nil {
		return nil, badRequest("format_in: %v", err)
	}
	req.Options.DryRun, req.Options.Delete = b.DryRun, b.Delete
	rep, err := dlq.ReplayLetters(r.Context(), s.cfg.JS, req, s.log)
	if rep == nil {
		return nil, err
	}
	return rep, nil // letters rejected again are in the report, not an error of the request
}
