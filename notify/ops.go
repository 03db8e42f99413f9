package notify

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"breachd/event"
	"breachd/history"
	"breachd/output"
	"breachd/respond"
)

// Desk is where people work incidents: the operations of `breachd incidents` and of the HTTP
// API, one path each. A caller fills a request from its flags or its JSON and renders the
// result with output.Write (a table for people, or JSON); every change goes through Incidents
// (compare-and-set → history mirror → INCIDENTS).
type Desk struct {
	Incidents *Incidents
	History   *history.Store // evidence, reports
	// Respond builds the respond engine of Deactivate, Approve and Reactivate, once per Desk
	// and only when one of them is first called (nil: they are refused).
	Respond func(context.Context) (*respond.Engine, error)
	mu      sync.Mutex // guards engine: a Desk serves concurrent callers (the API)
	engine  *respond.Engine
}

// respond is the engine of the deactivation operations.
func (d *Desk) respond(ctx context.Context) (*respond.Engine, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.engine != nil {
		return d.engine, nil
	}
	if d.Respond == nil {
		return nil, errors.New("no deactivation engine is configured here")
	}
	eng, err := d.Respond(ctx)
	d.engine = eng
	return eng, err
}

// EvidenceLookback is how far before the first alert an evidence snapshot looks (the
// Watcher's default, and people's).
const EvidenceLookback = 30 * 24 * time.Hour

// ListRequest selects incidents: the open ones, or All, or those in State; of Org if given.
type ListRequest struct {
	All        bool
	State, Org string
}

// Check refuses an unknown state.
func (r ListRequest) Check() error {
	if r.State != "" && !slices.Contains(event.IncidentStates, r.State) {
		return fmt.Errorf("state %q is not one of %s", r.State, strings.Join(event.IncidentStates, ", "))
	}
	return nil
}

// List returns the incidents r selects, newest first, under ListColumns.
func (d *Desk) List(ctx context.Context, r ListRequest) (*output.Rows, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	incs, err := d.Incidents.List(ctx)
	if err != nil {
		return nil, err
	}
	incs = slices.DeleteFunc(incs, func(inc *event.Incident) bool {
		return (!r.All && r.State == "" && !inc.Open()) || (r.State != "" && inc.State != r.State) || (r.Org != "" && inc.Org != r.Org)
	})
	return output.RowsOf(ListColumns, incs, ListRow(d.Incidents.clock())), nil
}

// Register returns the breach register rows of the incidents opened in [from, to), oldest
// first, under RegisterColumns.
func (d *Desk) Register(ctx context.Context, from, to time.Time) (*output.Rows, error) {
	incs, err := d.Incidents.List(ctx)
	if err != nil {
		return nil, err
	}
	reg := slices.DeleteFunc(Register(incs, d.Incidents.clock()), func(r RegisterRow) bool {
		return r.Opened.Before(from) || !r.Opened.Before(to)
	})
	return output.RowsOf(RegisterColumns, reg, RegisterRow.Row), nil
}

// Show returns everything about one incident.
func (d *Desk) Show(ctx context.Context, id string) (Shown, error) {
	inc, err := d.Incidents.Get(ctx, id)
	if err != nil {
		return Shown{}, err
	}
	return Show(inc, d.Incidents.clock()), nil
}

// Changed is an incident after a change: in JSON the incident; for people its state, version,
// deadline and latest timeline entry.
type Changed struct {
	Incident *event.Incident
	Now      time.Time
}

// Changed returns the result of a change (Ack, Transition, Comment, ...) that returned inc.
func (d *Desk) Changed(inc *event.Incident, err error) (Changed, error) {
	return Changed{inc, d.Incidents.clock()}, err
}

func (c Changed) MarshalJSON() ([]byte, error) { return json.Marshal(c.Incident) }

// WriteText writes the incident's state and its latest timeline entry.
func (c Changed) WriteText(w io.Writer) error {
	inc := c.Incident
	fmt.Fprintf(w, "%s is %s (version %d), %s\n", inc.ID, inc.State, inc.Version, DeadlineText(inc, c.Now))
	if n := len(inc.Timeline); n > 0 {
		e := inc.Timeline[n-1]
		fmt.Fprintf(w, "  %s  %s  %s\n", e.At.UTC().Format(time.RFC3339), e.Actor, e.Text)
	}
	return nil
}

// EvidenceColumns are the columns of Evidence; the table for people leaves out the last, the
// query text.
var EvidenceColumns = []string{"id", "kind", "taken", "from", "to", "rows", "sha256", "verified", "query"}

// Evidence lists the evidence snapshots of the incident, each hash recomputed. refresh first
// collects a new logins and access snapshot (CollectEvidence, audited as actor).
func (d *Desk) Evidence(ctx context.Context, id string, refresh bool, actor string) (*output.Rows, error) {
	inc, err := d.Incidents.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if refresh {
		if _, err := CollectEvidence(ctx, d.History, d.Incidents, inc, EvidenceLookback, actor); err != nil {
			return nil, err
		}
	}
	evs, err := d.History.EvidenceOf(ctx, id)
	if err != nil {
		return nil, err
	}
	t := output.RowsOf(EvidenceColumns, evs, func(e history.Evidence) []any {
		return []any{e.ID, e.Kind, e.Taken, e.From, e.To, e.Rows, e.SHA256, e.Verify(), e.Query}
	})
	t.TableColumns = len(EvidenceColumns) - 1
	return t, nil
}

// ReportRequest asks for the draft Art. 33 notice of incident ID, written to Dir, after the
// fields of Change (those given) are stored in the incident as Actor.
type ReportRequest struct {
	ID     string
	Change ReportChange
	Dir    string
	Actor  string
}

// Report stores the request's fields, builds the notice from the incident and its evidence
// (the categories of people: one history query, audited as the actor) and writes it as
// Markdown and JSON.
func (d *Desk) Report(ctx context.Context, r ReportRequest) (Written, error) {
	inc, err := d.Incidents.Get(ctx, r.ID)
	if err != nil {
		return Written{}, err
	}
	if r.Change != (ReportChange{}) {
		if inc, err = d.Incidents.SetReport(ctx, r.ID, r.Change, Edit{Actor: r.Actor}); err != nil {
			return Written{}, err
		}
	}
	evs, err := d.History.EvidenceOf(ctx, r.ID)
	if err != nil {
		return Written{}, err
	}
	people, err := d.History.ReportPeople(ctx, r.Actor, inc, evs)
	if err != nil {
		return Written{}, err
	}
	rep, err := BuildReport(inc, evs, people, d.Incidents.clock())
	if err != nil {
		return Written{}, err
	}
	return rep.WriteFiles(r.Dir)
}

// Deactivation is a deactivation request and the incident that mirrors its state.
type Deactivation struct {
	Incident *event.Incident  `json:"incident"`
	Request  *respond.Request `json:"request"`
}

// WriteText says what became of the request (a dry run says it changed nothing) and where
// the incident stands.
func (d Deactivation) WriteText(w io.Writer) error {
	r, inc := d.Request, d.Incident
	fmt.Fprintf(w, "deactivation request of %s: %s via %s", r.Incident, r.State, r.Adapter)
	switch {
	case respond.IsDryRun(r.Adapter) && r.State == respond.StateDone:
		fmt.Fprint(w, ": would deactivate the account; a dry run, nothing was changed")
	case respond.IsDryRun(r.Adapter) && r.State == respond.StateReactivated:
		fmt.Fprint(w, ": would reactivate the account; a dry run, nothing was changed")
	}
	if s := cmp.Or(r.Refusal, r.LastError); s != "" {
		fmt.Fprintf(w, " (%s)", s)
	}
	_, err := fmt.Fprintf(w, "\n%s is %s (version %d), deactivation %s\n", inc.ID, inc.State, inc.Version, DeactivationText(inc.Deactivation))
	return err
}

// mirror records the request's state in the incident.
func (d *Desk) mirror(ctx context.Context, id string, r *respond.Request) (Deactivation, error) {
	inc, err := d.Incidents.RecordDeactivation(ctx, id, DeactivationState(r), RequestDetail(r))
	if err == nil && inc == nil { // unchanged
		inc, err = d.Incidents.Get(ctx, id)
	}
	return Deactivation{inc, r}, err
}

// Deactivate files the deactivation request of the incident's account (idempotent
// per incident: an existing request is returned as it stands) and records its state in the
// incident. comment (default: the incident's summary) is the request's reason.
func (d *Desk) Deactivate(ctx context.Context, id, comment, actor string) (Deactivation, error) {
	eng, err := d.respond(ctx)
	if err != nil {
		return Deactivation{}, err
	}
	inc, err := d.Incidents.Get(ctx, id)
	if err != nil {
		return Deactivation{}, err
	}
	reason := "incident " + inc.ID + ": " + cmp.Or(strings.TrimSpace(comment), inc.Summary)
	r, err := eng.Request(ctx, respond.Target{Org: inc.Org, Account: inc.Account, Incident: inc.ID}, reason, actor)
	if err != nil {
		return Deactivation{}, err
	}
	return d.mirror(ctx, id, r)
}

// Approve lets the incident's deactivation request held by its organisation's cap run
// (audited with comment) and records its state in the incident.
func (d *Desk) Approve(ctx context.Context, id, comment, actor string) (Deactivation, error) {
	if strings.TrimSpace(comment) == "" {
		return Deactivation{}, errors.New("an approval needs a comment (it is audited with it)")
	}
	eng, err := d.respond(ctx)
	if err != nil {
		return Deactivation{}, err
	}
	r, err := eng.Approve(ctx, id, actor, comment)
	switch {
	case errors.Is(err, respond.ErrState):
		return Deactivation{}, fmt.Errorf("%s: the deactivation request is %s, not awaiting approval: nothing to approve", id, r.State)
	case errors.Is(err, respond.ErrNotFound):
		return Deactivation{}, fmt.Errorf("%s: there is no deactivation request to approve (deactivate files one)", id)
	case err != nil:
		return Deactivation{}, err
	}
	return d.mirror(ctx, id, r)
}

// ReactivateRequest asks to turn the deactivated account of incident ID back on; Force
// overrides open steps 2–6, and needs a Reason.
type ReactivateRequest struct {
	ID, Actor, Reason string
	Force             bool
}

// Reactivate turns the account back on (refused while steps 2–6 are not done,
// unless forced; every call audited), records step 7 and the request's state in the incident.
func (d *Desk) Reactivate(ctx context.Context, q ReactivateRequest) (Deactivation, error) {
	if q.Force && strings.TrimSpace(q.Reason) == "" {
		return Deactivation{}, errors.New("a forced reactivation needs a reason")
	}
	eng, err := d.respond(ctx)
	if err != nil {
		return Deactivation{}, err
	}
	inc, err := d.Incidents.Get(ctx, q.ID)
	if err != nil {
		return Deactivation{}, err
	}
	missing := MissingSteps(inc, 2, 3, 4, 5, 6)
	r, err := eng.Reactivate(ctx, q.ID, respond.ReactivateOptions{Actor: q.Actor, MissingSteps: missing, Force: q.Force, Reason: q.Reason})
	switch {
	case errors.Is(err, respond.ErrNotFound):
		return Deactivation{}, fmt.Errorf("%s: there is no deactivation request, so nothing to reactivate", q.ID)
	case errors.Is(err, respond.ErrStepsOpen):
		return Deactivation{}, fmt.Errorf("%s: reactivation refused: steps not recorded done: %s (record them with a comment on step N, or force it with a reason)",
			q.ID, strings.Join(missing, "; "))
	case err != nil:
		return Deactivation{}, err
	}
	note := "account reactivated via " + r.Adapter
	if r.Reactivation != nil && r.Reactivation.Forced {
		note += ", forced over open steps " + strings.Join(missing, "; ")
	}
	if q.Reason != "" {
		note += "; reason: " + q.Reason
	}
	if _, err = d.Incidents.Comment(ctx, q.ID, 7, Edit{Actor: q.Actor, Comment: note}); err != nil {
		return Deactivation{}, err
	}
	return d.mirror(ctx, q.ID, r)
}
