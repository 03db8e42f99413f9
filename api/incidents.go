package api

import (
	"cmp"
	"context"
	"net/http"
	"strings"
	"time"

	"breachd/auth"
	"breachd/event"
	"breachd/notify"
)

// desk is the incidents desk of one request: the principal's organisations for action.
func (s *Server) desk(p *auth.Principal, a auth.Action) *notify.Desk {
	return &notify.Desk{Incidents: s.cfg.Incidents, History: s.cfg.History, Scope: p.ScopeFor(a), Respond: s.respondEngine,
		Asker: asker(p, "", "")} // the identity of the desk's audited lookups (evidence, the draft's people)
}

// edit is a change made by p: the timeline names the signed-in identity, never a name the
// caller chose.
func edit(p *auth.Principal, comment string) notify.Edit {
	return notify.Edit{Actor: p.Actor(), Comment: strings.TrimSpace(comment)}
}

func (s *Server) incList(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	q := newQuery(r)
	req := notify.ListRequest{All: q.bool("all"), State: q.str("state"), Org: q.str("org")}
	pg := q.page()
	if q.err != nil {
		return nil, q.err
	}
	if err := req.Check(); err != nil {
		return nil, badRequest("%v", err)
	}
	t, err := s.desk(p, auth.IncidentsRead).List(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return rowsPage(t, pg), nil
}

func (s *Server) incShow(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	id, err := incidentID(r)
	if err != nil {
		return nil, err
	}
	return s.desk(p, auth.IncidentsRead).Show(r.Context(), id)
}

func (s *Server) incAck(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	var b struct {
		Comment string     `json:"comment"`
		AwareAt *time.Time `json:"aware_at"`
	}
	id, err := incidentBody(r, &b)
	if err != nil {
		return nil, err
	}
	aware := time.Now().UTC()
	if b.AwareAt != nil {
		aware = b.AwareAt.UTC()
	}
	return s.desk(p, auth.IncidentsWork).Ack(r.Context(), id, aware, edit(p, b.Comment))
}

func (s *Server) incTransition(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	var b struct {
		To      string `json:"to"`
		Comment string `json:"comment"`
	}
	id, err := incidentBody(r, &b)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(b.To) == "" {
		return nil, badRequest("to: the state to move to is required")
	}
	return s.desk(p, auth.IncidentsWork).Transition(r.Context(), id, b.To, edit(p, b.Comment))
}

func (s *Server) incComment(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	var b struct {
		Step int    `json:"step"`
		Text string `json:"text"`
	}
	id, err := incidentBody(r, &b)
	if err != nil {
		return nil, err
	}
	return s.desk(p, auth.IncidentsWork).Comment(r.Context(), id, b.Step, edit(p, b.Text))
}

func (s *Server) incEvidence(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	id, err := incidentID(r)
	if err != nil {
		return nil, err
	}
	q := newQuery(r)
	pg := q.page()
	if q.err != nil {
		return nil, q.err
	}
	t, err := s.desk(p, auth.IncidentsRead).Evidence(r.Context(), id, false, p.Actor())
	if err != nil {
		return nil, err
	}
	return rowsPage(t, pg), nil
}

// incAlerts is the incident's alerts with their events: an audited lookup of its account.
func (s *Server) incAlerts(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	id, err := incidentID(r)
	if err != nil {
		return nil, err
	}
	return s.desk(p, auth.IncidentsRead).Alerts(r.Context(), id, p.Actor())
}

func (s *Server) incEvidenceRefresh(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	var b struct{}
	id, err := incidentBody(r, &b)
	if err != nil {
		return nil, err
	}
	t, err := s.desk(p, auth.IncidentsWork).Evidence(r.Context(), id, true, p.Actor())
	if err != nil {
		return nil, err
	}
	return rowsPage(t, page{limit: maxLimit}), nil
}

// incReport is the Art. 33 draft: JSON, or with ?format=markdown a Markdown download in
// ?lang=en (the default) or nb, named art33-<id>.md, art33-<id>.nb.md in Norwegian (the id
// validated and the language one of two, so the name is always safe).
func (s *Server) incReport(w http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	id, err := incidentID(r)
	if err != nil {
		return nil, err
	}
	format, lang := r.URL.Query().Get("format"), cmp.Or(r.URL.Query().Get("lang"), "en")
	if format != "" && format != "json" && format != "markdown" {
		return nil, badRequest("format: want json or markdown")
	}
	if notify.CheckReportLanguage(lang) != nil {
		return nil, badRequest("lang: want %s (the language of the Markdown draft)", strings.Join(notify.ReportLanguages, " or "))
	}
	rep, err := s.desk(p, auth.IncidentsRead).Draft(r.Context(), id, p.Actor())
	if err != nil {
		return nil, err
	}
	if format != "markdown" {
		return rep, nil
	}
	md, err := rep.MarkdownIn(lang)
	if err != nil {
		return nil, err
	}
	name := "art33-" + id + ".md"
	if lang != "en" {
		name = "art33-" + id + "." + lang + ".md"
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("Content-Language", lang)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(md))
	return nil, nil
}

func (s *Server) incReportPatch(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	var b struct {
		Consequences string `json:"consequences"`
		Measures     string `json:"measures"`
		DPO          string `json:"dpo"`
		Reference    string `json:"reference"`
		DelayReasons string `json:"delay_reasons"`
		Art34        string `json:"art34"`
		Art34Reason  string `json:"art34_reason"`
		// Reported marks the incident reported to Datatilsynet (the transition to reported),
		// after the fields are stored; it needs Datatilsynet's reference.
		Reported bool `json:"reported"`
	}
	id, err := incidentBody(r, &b)
	if err != nil {
		return nil, err
	}
	c := notify.ReportChange{Consequences: b.Consequences, Measures: b.Measures, DPO: b.DPO, Reference: b.Reference,
		DelayReasons: b.DelayReasons, Art34: b.Art34, Art34Reason: b.Art34Reason}
	if c == (notify.ReportChange{}) && !b.Reported {
		return nil, badRequest("give at least one field to set (see /api/openapi.json)")
	}
	d := s.desk(p, auth.IncidentsReport)
	var changed notify.Changed
	if c != (notify.ReportChange{}) {
		if changed, err = d.SetReport(r.Context(), id, c, edit(p, "")); err != nil || !b.Reported {
			return changed, err
		}
	}
	shown, err := d.Show(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if shown.Report.Reference == "" {
		return nil, badRequest("reported: give Datatilsynet's reference (reference) to mark the incident reported")
	}
	return d.Transition(r.Context(), id, event.StateReported, edit(p, "reported to Datatilsynet, reference "+shown.Report.Reference))
}

// commentBody is the body of deactivate, approve and cancel.
type commentBody struct {
	Comment string `json:"comment"`
}

// incStep is the route of one step of a deactivation request (Desk.Deactivate, Approve or
// Cancel): the body's comment, the signed-in identity as the actor. The Desk refuses an
// approval or a cancellation without a comment (400).
func (s *Server) incStep(step func(d *notify.Desk, ctx context.Context, id, comment, actor string) (notify.Deactivation, error)) handlerFunc {
	return func(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
		var b commentBody
		id, err := incidentBody(r, &b)
		if err != nil {
			return nil, err
		}
		return step(s.desk(p, auth.IncidentsWork), r.Context(), id, b.Comment, p.Actor())
	}
}

func (s *Server) incReactivate(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	var b struct {
		Force  bool   `json:"force"`
		Reason string `json:"reason"`
	}
	id, err := incidentBody(r, &b)
	if err != nil {
		return nil, err
	}
	if b.Force && strings.TrimSpace(b.Reason) == "" {
		return nil, badRequest("reason: a forced reactivation needs one")
	}
	return s.desk(p, auth.IncidentsWork).Reactivate(r.Context(),
		notify.ReactivateRequest{ID: id, Actor: p.Actor(), Reason: b.Reason, Force: b.Force})
}

func (s *Server) register(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	q := newQuery(r)
	from := q.time("from", time.Unix(0, 0).UTC())
	to := q.time("to", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	pg := q.page()
	if q.err != nil {
		return nil, q.err
	}
	t, err := s.desk(p, auth.RegisterRead).Register(r.Context(), from, to)
	if err != nil {
		return nil, err
	}
	return rowsPage(t, pg), nil
}

// incidentBody is the incident id of the path and the JSON body decoded into b.
func incidentBody(r *http.Request, b any) (string, error) {
	id, err := incidentID(r)
	if err != nil {
		return "", err
	}
	return id, decode(r, b)
}
