package respond

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"breachd/retry"
)

// ReactivateOptions is the explicit command that turns a deactivated account back on
// (step 7 of the breach procedure).
type ReactivateOptions struct {
	Actor string // required: who runs the command
	// MissingSteps lists the procedure steps (2–6) the caller found not recorded done for
	// the incident; the engine does not know the incident's lifecycle. Non-empty refuses the
	// reactivation unless Force is set with a Reason.
	MissingSteps []string
	Force        bool
	Reason       string // required with Force; audited in every case
}

// Reactivate turns the account of incident's request back on through its adapter, once the
// request is done (the account was deactivated). Every call is audited, refusals included.
// It makes one adapter call, bounded by CallTimeout: on failure the request stays done, the
// error is recorded and returned, and the command can be run again. It returns an error
// wrapping ErrStepsOpen when steps are missing and not forced, ErrState when the request is
// not done (or another reactivation holds it), ErrNotFound when there is no request.
func (e *Engine) Reactivate(ctx context.Context, incident string, o ReactivateOptions) (*Request, error) {
	if strings.TrimSpace(o.Actor) == "" {
		return nil, errors.New("respond: reactivate needs the actor's name")
	}
	id := RequestID(incident)
	var r, refused *Request
	var prev Request
	var crev uint64
	err := retry.CAS(ctx, "respond: reactivate "+incident, func(ctx context.Context) error {
		var rev uint64
		var err error
		if r, rev, err = e.load(ctx, id); err != nil {
			return fmt.Errorf("respond: reactivate: %w", err)
		}
		now := e.opts.Clock()
		entry := Entry{Time: now, Actor: o.Actor, Action: AuditReactivate, Result: "refused"}
		if r.State != StateDone {
			refused, entry.Detail = r, "request is "+r.State+", not done"
			if err := e.audit(ctx, r, entry); err != nil {
				return fmt.Errorf("respond: audit reactivation: %w", err)
			}
			return fmt.Errorf("respond: reactivate %s: request is %s: %w", incident, r.State, ErrState)
		}
		if refusal := reactivationRefusal(o); refusal != "" {
			refused, entry.Detail = r, refusal
			if err := e.audit(ctx, r, entry); err != nil {
				return fmt.Errorf("respond: audit reactivation: %w", err)
			}
			return fmt.Errorf("respond: reactivate %s: %s: %w", incident, refusal, ErrStepsOpen)
		}
		prev = *r
		r.State, r.Owner, r.LeaseUntil, r.Updated = StateReactivating, e.owner, now.Add(e.opts.Lease), now
		r.Adapter = e.adapterFor(r.Org).Name()
		r.Reactivation = &Reactivation{By: o.Actor, At: now, Reason: clip(o.Reason), Forced: o.Force && len(o.MissingSteps) > 0}
		if r.Reactivation.Forced {
			r.Reactivation.MissingSteps = o.MissingSteps
		}
		if crev, err = e.write(ctx, r, rev); err != nil {
			return fmt.Errorf("respond: reactivate: %w", err)
		}
		return nil
	})
	if err != nil {
		return refused, err
	}
	entry := Entry{Time: r.Updated, Actor: o.Actor, Action: AuditReactivate, Result: "started", Detail: reactivationDetail(o)}
	if err := e.audit(ctx, r, entry); err != nil {
		if _, werr := e.write(ctx, &prev, crev); werr != nil && !retry.IsLost(werr) {
			e.log.Warn("could not release reactivation claim; it expires with the lease", "err", werr, "request", id)
		}
		return nil, fmt.Errorf("respond: audit reactivation: %w", err)
	}
	if err := e.markPending(ctx, r); err != nil { // so a crash mid-call is cleaned up
		e.log.Warn("pending mark not set", "err", err, "request", id)
	}
	took, callErr := e.call(ctx, r, actionReactivate)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	return e.finishReactivation(rctx, r, crev, o.Actor, callErr, took)
}

func reactivationRefusal(o ReactivateOptions) string {
	switch {
	case o.Force && strings.TrimSpace(o.Reason) == "":
		return "force needs a reason"
	case len(o.MissingSteps) > 0 && !o.Force:
		return "steps not recorded done: " + strings.Join(o.MissingSteps, ", ")
	}
	return ""
}

func reactivationDetail(o ReactivateOptions) string {
	d := "reason: " + clip(o.Reason)
	if o.Force && len(o.MissingSteps) > 0 {
		d = "forced over open steps " + strings.Join(o.MissingSteps, ", ") + "; " + d
	}
	return d
}

// finishReactivation records the outcome of a reactivation call made under the claim at rev.
func (e *Engine) finishReactivation(ctx context.Context, r *Request, rev uint64, actor string, callErr error, took time.Duration) (*Request, error) {
	now := e.opts.Clock()
	at := e.addAttempt(r, actionReactivate, now, callErr, took)
	result := at.Result
	r.Owner, r.LeaseUntil, r.Updated = "", time.Time{}, now
	if callErr == nil {
		r.State, r.LastError = StateReactivated, ""
	} else {
		r.State, r.LastError, r.Reactivation = StateDone, "reactivation failed: "+at.Error, nil
	}
	if _, err := e.write(ctx, r, rev); err != nil {
		if retry.IsLost(err) {
			err = errors.New("the request changed during the call (lease expired?); check its state")
		}
		return nil, fmt.Errorf("respond: record reactivation (adapter result %s): %w", result, err)
	}
	e.m.states.WithLabelValues(r.State).Inc()
	detail := at.Error
	if IsDryRun(r.Adapter) && callErr == nil {
		detail = "would reactivate; " + dryRunNote
	}
	e.auditOutcome(ctx, r, Entry{Actor: actor, Action: AuditReactivate, Result: result, Detail: detail})
	if err := e.markPending(ctx, r); err != nil {
		e.log.Warn("pending mark not cleared; ProcessDue repairs it", "err", err, "request", r.ID)
	}
	if callErr != nil {
		return r, fmt.Errorf("respond: reactivate %s through %s: %w", r.Incident, r.Adapter, callErr)
	}
	if IsDryRun(r.Adapter) {
		e.log.Info("dry run: would reactivate account; nothing was changed", "request", r.ID, "incident", r.Incident, "org", r.Org, "by", actor)
		return r, nil
	}
	e.log.Info("account reactivated", "request", r.ID, "incident", r.Incident, "org", r.Org, "by", actor)
	return r, nil
}

// abandonReactivation puts a reactivation whose owner died mid-call back to done: whether
// the account is on is unknown, and only a human re-runs the command.
func (e *Engine) abandonReactivation(ctx context.Context, r *Request, rev uint64, now time.Time) (*Request, error) {
	r.State, r.Owner, r.LeaseUntil, r.Updated = StateDone, "", time.Time{}, now
	r.LastError, r.Reactivation = "reactivation interrupted (its engine stopped during the call); run it again", nil
	if _, err := e.write(ctx, r, rev); err != nil {
		return nil, err
	}
	e.m.states.WithLabelValues(r.State).Inc()
	e.auditOutcome(ctx, r, Entry{Actor: e.owner, Action: AuditReactivate, Result: "interrupted", Detail: r.LastError})
	if err := e.markPending(ctx, r); err != nil {
		e.log.Warn("pending mark not cleared", "err", err, "request", r.ID)
	}
	return r, nil
}
