package respond

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"breachd/retry"
)

// Cancellable are the states Cancel accepts: a request no engine is working on and that has
// not reached an outcome.
var Cancellable = []string{StateAwaitingApproval, StateRequested, StateRetrying}

// Cancel withdraws the request of incident before an engine takes it: one awaiting approval,
// requested, or retrying between attempts becomes cancelled (terminal; the account is not
// touched by this request again). actor and reason are required and audited before the change
// is stored; if the audit fails nothing changes. Cancel is a compare-and-set on the request, so
// when an engine claims it at the same moment exactly one wins: the engine's claim (in
// progress, and Cancel returns ErrState) or the cancellation (and the engine finds nothing due).
// It returns the request as stored and an error wrapping ErrState when the request is in
// progress, done, failed, refused, reactivating, reactivated or already cancelled (the request
// is returned with it), ErrNotFound when there is none.
func (e *Engine) Cancel(ctx context.Context, incident, actor, reason string) (*Request, error) {
	switch {
	case strings.TrimSpace(actor) == "":
		return nil, errors.New("respond: cancel needs the actor's name")
	case strings.TrimSpace(reason) == "":
		return nil, errors.New("respond: cancel needs a reason (it is audited with it)")
	}
	id := RequestID(incident)
	var r, refused *Request
	audited := false // a cancellation audited, then lost to an engine's claim: audit that too
	err := retry.CAS(ctx, "respond: cancel "+incident, func(ctx context.Context) error {
		var rev uint64
		var err error
		if r, rev, err = e.load(ctx, id); err != nil {
			return fmt.Errorf("respond: cancel: %w", err)
		}
		if !slices.Contains(Cancellable, r.State) {
			refused = r
			if audited {
				e.auditOutcome(ctx, r, Entry{Actor: actor, Action: AuditCancel, Result: r.State,
					Detail: "not cancelled: the request became " + r.State + " first"})
			}
			return fmt.Errorf("respond: cancel request of %s in state %s: %w", incident, r.State, ErrState)
		}
		now := e.opts.Clock()
		from := r.State
		r.State, r.NextAttempt, r.Updated = StateCancelled, time.Time{}, now
		r.Cancellation = &Approval{By: actor, At: now, Comment: clip(reason)}
		if err := e.audit(ctx, r, Entry{Time: now, Actor: actor, Action: AuditCancel, Result: r.State,
			Detail: clip("was " + from + ": " + reason)}); err != nil {
			return fmt.Errorf("respond: audit cancellation: %w", err)
		}
		audited = true
		if _, err := e.write(ctx, r, rev); err != nil {
			return fmt.Errorf("respond: cancel: %w", err)
		}
		return nil
	})
	if err != nil {
		if audited && refused == nil { // the audit says cancelled; say that it was not stored
			e.auditOutcome(ctx, r, Entry{Actor: actor, Action: AuditCancel, Result: "error", Detail: clip("not cancelled: " + err.Error())})
		}
		return refused, err
	}
	e.m.states.WithLabelValues(r.State).Inc()
	e.log.Info("deactivation request cancelled", "request", id, "incident", incident)
	if err := e.markPending(ctx, r); err != nil { // stored: an engine finds it cancelled, not due
		e.log.Warn("cancelled request still in the pending index", "request", id, "err", err)
	}
	return r, nil
}
