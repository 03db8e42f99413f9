package notify

import (
	"context"
	"encoding/json"
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
// (compare-and-set → history mirror → INCIDENTS). Every method holds its caller to Scope:
// listings leave out other organisations' incidents, and an incident of another organisation
// is answered exactly like a missing one (ErrNotFound, the same text), so that its existence
// does not leak. Callers change incidents through the Desk, never through Incidents.
type Desk struct {
	Incidents *Incidents
	History   *history.Store // evidence, reports
	// Respond builds the respond engine of Deactivate, Approve and Reactivate, once per Desk
	// and only when one of them is first called (nil: they are refused).
	Respond func(context.Context) (*respond.Engine, error)
	// Scope is the organisations whose incidents this desk's caller may see and work: another
	// organisation's incident is ErrNotFound. The zero Scope sees nothing (the CLI on the box
	// uses event.Everywhere; the API the signed-in principal's ScopeFor the action).
	Scope event.Scope
	// Asker is the caller's identity (Issuer, Subject, Roles) for the audit rows of the
	// history lookups the desk makes for it (Evidence with refresh, Report); each call's
	// actor is the Who.
	Asker  history.Asker
	mu     sync.Mutex // guards engine: a Desk serves concurrent callers (the API)
	engine *respond.Engine
}

// EvidenceLookback is how far before the first alert an evidence snapshot looks (the
// Watcher's default, and people's).
const EvidenceLookback = 30 * 24 * time.Hour

// ListRequest selects incidents of the desk's scope: the open ones, or All, or those in State;
// of Org if given (an organisation outside the scope: none).
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
		return !d.Scope.Contains(inc.Org) ||
			(!r.All && r.State == "" && !inc.Open()) || (r.State != "" && inc.State != r.State) || (r.Org != "" && inc.Org != r.Org)
	})
	t := output.RowsOf(ListColumns, incs, ListRow(d.Incidents.clock()))
	t.TableColumns = ListTableColumns
	return t, nil
}

// Register returns the breach register rows of the scope's incidents opened in [from, to),
// oldest first, under RegisterColumns.
func (d *Desk) Register(ctx context.Context, from, to time.Time) (*output.Rows, error) {
	incs, err := d.Incidents.List(ctx)
	if err != nil {
		return nil, err
	}
	incs = slices.DeleteFunc(incs, func(inc *event.Incident) bool { return !d.Scope.Contains(inc.Org) })
	reg := slices.DeleteFunc(Register(incs, d.Incidents.clock()), func(r RegisterRow) bool {
		return r.Opened.Before(from) || !r.Opened.Before(to)
	})
	return output.RowsOf(RegisterColumns, reg, RegisterRow.Row), nil
}

// asker is d.Asker acting as actor.
func (d *Desk) asker(actor string) history.Asker {
	a := d.Asker
	a.Who = actor
	return a
}

// get returns incident id if it is in the scope, else the error of a missing id (wrapping
// ErrNotFound, with the same text).
func (d *Desk) get(ctx context.Context, id string) (*event.Incident, error) {
	inc, err := d.Incidents.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !d.Scope.Contains(inc.Org) {
		return nil, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	return inc, nil
}

// Show returns everything about one incident.
func (d *Desk) Show(ctx context.Context, id string) (Shown, error) {
	inc, err := d.get(ctx, id)
	if err != nil {
		return Shown{}, err
	}
	return Show(inc, d.Incidents.clock()), nil
}

// Alerts returns the alerts of incident id with the events behind them: the alerts of its
// account whose events fall in [first seen, last seen] (at most history.MaxWindow before the
// last), read from history as an audited lookup of the account by actor for the incident.
func (d *Desk) Alerts(ctx context.Context, id, actor string) (history.AccountAlerts, error) {
	inc, err := d.get(ctx, id)
	if err != nil {
		return history.AccountAlerts{}, err
	}
	to := inc.LastSeen.Add(time.Millisecond)
	from := inc.FirstSeen
	if from.IsZero() || to.Sub(from) > history.MaxWindow {
		from = to.Add(-history.MaxWindow)
	}
	ask := d.asker(actor)
	ask.Incident = inc.ID
	// The incident's organisation only (d.get found it in d.Scope): another organisation's
	// alerts of the same account name are not this incident's.
	return d.History.AccountAlerts(ctx, history.AlertsRequest{Account: inc.Account, From: from, To: to, Ask: ask, Scope: event.OrgScope(inc.Org)})
}

// Changed is an incident after a change: in JSON the incident; for people its state, version,
// deadline and latest timeline entry.
type Changed struct {
	Incident *event.Incident
	Now      time.Time
}

// changed returns the result of a change that returned inc.
func (d *Desk) changed(inc *event.Incident, err error) (Changed, error) {
	return Changed{inc, d.Incidents.clock()}, err
}

// Ack records the moment of awareness of incident id (Incidents.Ack).
func (d *Desk) Ack(ctx context.Context, id string, awareAt time.Time, e Edit) (Changed, error) {
	if _, err := d.get(ctx, id); err != nil {
		return Changed{}, err
	}
	return d.changed(d.Incidents.Ack(ctx, id, awareAt, e))
}

// Transition moves incident id to state to (Incidents.Transition).
func (d *Desk) Transition(ctx context.Context, id, to string, e Edit) (Changed, error) {
	if _, err := d.get(ctx, id); err != nil {
		return Changed{}, err
	}
	return d.changed(d.Incidents.Transition(ctx, id, to, e))
}

// Comment adds a note to incident id's timeline, recording procedure step step (1–8) as done
// unless it is 0 (Incidents.Comment).
func (d *Desk) Comment(ctx context.Context, id string, step int, e Edit) (Changed, error) {
	if _, err := d.get(ctx, id); err != nil {
		return Changed{}, err
	}
	return d.changed(d.Incidents.Comment(ctx, id, step, e))
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
	inc, err := d.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if refresh {
		if _, err := CollectEvidence(ctx, d.History, d.Incidents, inc, EvidenceLookback, d.asker(actor)); err != nil {
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

// ReportRequest asks for the draft Art. 33 notice of incident ID, written to Dir (its Markdown
// in Lang, see ReportLanguages; "" is English), after the fields of Change (those given) are
// stored in the incident as Actor.
type ReportRequest struct {
	ID     string
	Change ReportChange
	Dir    string
	Lang   string
	Actor  string
}

// SetReport stores the fields of c that are set (Incidents.SetReport) in incident id.
func (d *Desk) SetReport(ctx context.Context, id string, c ReportChange, e Edit) (Changed, error) {
	if _, err := d.get(ctx, id); err != nil {
		return Changed{}, err
	}
	return d.changed(d.Incidents.SetReport(ctx, id, c, e))
}

// Draft builds the draft Art. 33 notice of incident id from the incident and its evidence
// (the categories of people: one history query, audited as actor).
func (d *Desk) Draft(ctx context.Context, id, actor string) (Report, error) {
	inc, err := d.get(ctx, id)
	if err != nil {
		return Report{}, err
	}
	return d.draft(ctx, inc, actor)
}

func (d *Desk) draft(ctx context.Context, inc *event.Incident, actor string) (Report, error) {
	evs, err := d.History.EvidenceOf(ctx, inc.ID)
	if err != nil {
		return Report{}, err
	}
	people, err := d.History.ReportPeople(ctx, d.asker(actor), inc, evs)
	if err != nil {
		return Report{}, err
	}
	return BuildReport(inc, evs, people, d.Incidents.clock())
}

// Report stores the request's fields, builds the notice (Draft) and writes it as Markdown and
// JSON.
func (d *Desk) Report(ctx context.Context, r ReportRequest) (Written, error) {
	if err := CheckReportLanguage(r.Lang); err != nil {
		return Written{}, err
	}
	inc, err := d.get(ctx, r.ID)
	if err != nil {
		return Written{}, err
	}
	if r.Change != (ReportChange{}) {
		if inc, err = d.Incidents.SetReport(ctx, r.ID, r.Change, Edit{Actor: r.Actor}); err != nil {
			return Written{}, err
		}
	}
	rep, err := d.draft(ctx, inc, r.Actor)
	if err != nil {
		return Written{}, err
	}
	return rep.WriteFiles(r.Dir, r.Lang)
}
