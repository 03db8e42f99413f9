package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"breachd/event"
	"breachd/respond"
)

// respondEngine is the engine of the deactivation operations (Respond, built once).
func (d *Desk) respondEngine(ctx context.Context) (*respond.Engine, error) {
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
	inc, err := d.get(ctx, id)
	if err != nil {
		return Deactivation{}, err
	}
	eng, err := d.respondEngine(ctx)
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
		return Deactivation{}, fmt.Errorf("%w: an approval needs a comment (it is audited with it)", ErrInput)
	}
	if _, err := d.get(ctx, id); err != nil {
		return Deactivation{}, err
	}
	eng, err := d.respondEngine(ctx)
	if err != nil {
		return Deactivation{}, err
	}
	r, err := eng.Approve(ctx, id, actor, comment)
	switch {
	case errors.Is(err, respond.ErrState):
		return Deactivation{}, fmt.Errorf("%s: the deactivation request is %s, not awaiting approval: nothing to approve (%w)", id, r.State, err)
	case errors.Is(err, respond.ErrNotFound):
		return Deactivation{}, fmt.Errorf("%s: there is no deactivation request to approve (deactivate files one; %w)", id, err)
	case err != nil:
		return Deactivation{}, err
	}
	return d.mirror(ctx, id, r)
}

// Cancel withdraws the incident's deactivation request while it is held or waiting for an
// engine (awaiting_approval, requested, retrying; audited with comment, which is required) and
// records the cancelled state in the incident. A request an engine has taken, or one that
// reached an outcome, cannot be cancelled: the error says what it is.
func (d *Desk) Cancel(ctx context.Context, id, comment, actor string) (Deactivation, error) {
	if strings.TrimSpace(comment) == "" {
		return Deactivation{}, fmt.Errorf("%w: a cancellation needs a comment (it is audited with it)", ErrInput)
	}
	if _, err := d.get(ctx, id); err != nil {
		return Deactivation{}, err
	}
	eng, err := d.respondEngine(ctx)
	if err != nil {
		return Deactivation{}, err
	}
	r, err := eng.Cancel(ctx, id, actor, comment)
	switch {
	case errors.Is(err, respond.ErrState):
		return Deactivation{}, fmt.Errorf("%s: the deactivation request is %s: only one that is %s can be cancelled (%w)",
			id, r.State, strings.Join(respond.Cancellable, ", "), err)
	case errors.Is(err, respond.ErrNotFound):
		return Deactivation{}, fmt.Errorf("%s: there is no deactivation request to cancel (%w)", id, err)
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
		return Deactivation{}, fmt.Errorf("%w: a forced reactivation needs a reason", ErrInput)
	}
	inc, err := d.get(ctx, q.ID)
	if err != nil {
		return Deactivation{}, err
	}
	eng, err := d.respondEngine(ctx)
	if err != nil {
		return Deactivation{}, err
	}
	missing := MissingSteps(inc, 2, 3, 4, 5, 6)
	r, err := eng.Reactivate(ctx, q.ID, respond.ReactivateOptions{Actor: q.Actor, MissingSteps: missing, Force: q.Force, Reason: q.Reason})
	switch {
	case errors.Is(err, respond.ErrNotFound):
		return Deactivation{}, fmt.Errorf("%s: there is no deactivation request, so nothing to reactivate (%w)", q.ID, err)
	case errors.Is(err, respond.ErrStepsOpen):
		return Deactivation{}, fmt.Errorf("%s: %w: %s (record them with a comment on step N, or force it with a reason)",
			q.ID, err, strings.Join(missing, "; "))
	case err != nil:
		return Deactivation{}, err
	}
	note := "account reactivated via " + r.Adapter
	if respond.IsDryRun(r.Adapter) { // a dry run changed nothing, and the timeline says so
		note = "dry run: would reactivate the account; nothing was changed"
	}
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
