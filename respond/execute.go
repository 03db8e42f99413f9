package respond

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"breachd/retry"
)

// due reports whether r needs an engine now.
func due(r *Request, now time.Time) bool {
	switch r.State {
	case StateRequested:
		return true
	case StateRetrying:
		return !now.Before(r.NextAttempt)
	case StateInProgress, StateReactivating:
		return now.After(r.LeaseUntil)
	}
	return false
}

// drive takes request id if it is due and makes one adapter call for it, then returns the
// request as stored. A request that is not due (done, held by a live lease, waiting for its
// next attempt) is returned unchanged.
func (e *Engine) drive(ctx context.Context, id string) (*Request, error) {
	var r *Request
	var prev Request
	var crev uint64
	claimed := false
	err := retry.CAS(ctx, "request "+id, func(ctx context.Context) error {
		var rev uint64
		var err error
		if r, rev, err = e.load(ctx, id); err != nil {
			return err
		}
		now := e.opts.Clock()
		if !due(r, now) {
			return nil
		}
		if r.State == StateReactivating { // its owner died mid-call: a human runs it again
			r, err = e.abandonReactivation(ctx, r, rev, now)
			return err
		}
		prev = *r
		r.State, r.Owner, r.LeaseUntil = StateInProgress, e.owner, now.Add(e.opts.Lease)
		r.Attempts++
		r.Adapter = e.adapterFor(r.Org).Name()
		r.Updated = now
		if crev, err = e.write(ctx, r, rev); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		claimed = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("respond: %w", err)
	}
	if !claimed {
		return r, nil
	}
	e.m.states.WithLabelValues(StateInProgress).Inc()
	now := r.Updated
	err = e.audit(ctx, r, Entry{Time: now, Actor: e.owner, Action: AuditAttempt,
		Detail: verb(r, actionDeactivate) + ", attempt " + strconv.Itoa(r.Attempts)})
	if err != nil {
		// No call without its audit entry: give the claim back unchanged.
		if _, werr := e.write(ctx, &prev, crev); werr != nil && !retry.IsLost(werr) {
			e.log.Warn("could not release claim; it expires with the lease", "err", werr, "request", id)
		}
		return nil, fmt.Errorf("respond: audit attempt: %w", err)
	}
	took, callErr := e.call(ctx, r, actionDeactivate)
	// Record the outcome even if the caller's ctx ended during the call: otherwise the
	// call would be repeated once the lease expires.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	return e.finish(rctx, r, crev, callErr, took)
}

// call runs one adapter call bounded by CallTimeout and counts it.
func (e *Engine) call(ctx context.Context, r *Request, action string) (time.Duration, error) {
	a := e.adapterFor(r.Org)
	t := Target{Org: r.Org, Account: r.Account, Incident: r.Incident, Request: r.ID}
	cctx, cancel := context.WithTimeout(ctx, e.opts.CallTimeout)
	defer cancel()
	start := time.Now() // latency metric only: wall time, not the injected clock
	var err error
	if action == actionDeactivate {
		err = a.Deactivate(cctx, t)
	} else {
		err = a.Reactivate(cctx, t)
	}
	took := time.Since(start)
	e.m.calls.WithLabelValues(a.Name(), action, resultOf(err)).Inc()
	e.m.latency.WithLabelValues(a.Name(), action).Observe(took.Seconds())
	return took, err
}

func resultOf(err error) string {
	switch {
	case err == nil:
		return ResultOK
	case retry.IsPermanent(err):
		return ResultPermanent
	}
	return ResultTransient
}

// finish records the outcome of a deactivation call made under the claim at revision rev.
// If the claim was lost meanwhile (the lease expired and another engine took over) and the
// request has reached an outcome, that outcome stands; otherwise this one is recorded.
func (e *Engine) finish(ctx context.Context, claimed *Request, rev uint64, callErr error, took time.Duration) (*Request, error) {
	r, reread, recorded := claimed, false, false
	err := retry.CAS(ctx, "record result of "+claimed.ID, func(ctx context.Context) error {
		if reread {
			var err error
			if r, rev, err = e.load(ctx, claimed.ID); err != nil {
				return fmt.Errorf("record result: %w", err)
			}
			if r.State != StateInProgress && r.State != StateRetrying && r.State != StateRequested {
				return nil
			}
		}
		reread = true
		now := e.opts.Clock()
		at := e.addAttempt(r, actionDeactivate, now, callErr, took)
		r.Owner, r.LeaseUntil, r.NextAttempt, r.Updated = "", time.Time{}, time.Time{}, now
		switch {
		case callErr == nil:
			r.State, r.Deactivated, r.LastError = StateDone, now, ""
		case at.Result == ResultPermanent:
			r.State, r.LastError = StateFailed, at.Error
		case r.Attempts >= e.opts.MaxAttempts:
			r.State, r.LastError = StateFailed, fmt.Sprintf("gave up after %d attempts: %s", r.Attempts, at.Error)
		default:
			r.State, r.LastError = StateRetrying, at.Error
			r.NextAttempt = now.Add(e.backoff.After(r.Attempts, callErr))
		}
		if _, err := e.write(ctx, r, rev); err != nil {
			return fmt.Errorf("record result: %w", err)
		}
		recorded = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("respond: %w", err)
	}
	if recorded {
		e.m.states.WithLabelValues(r.State).Inc()
		e.afterFinish(ctx, r, resultOf(callErr))
	}
	return r, nil
}

// addAttempt appends the adapter call that ended with callErr after took to r's history
// (the last maxHistory are kept) and returns it.
func (e *Engine) addAttempt(r *Request, action string, now time.Time, callErr error, took time.Duration) Attempt {
	at := Attempt{Action: action, At: now, Owner: e.owner, Result: resultOf(callErr), Duration: took}
	if callErr != nil {
		at.Error = clip(callErr.Error())
	}
	r.History = append(r.History, at)
	if over := len(r.History) - maxHistory; over > 0 {
		r.History = r.History[over:]
	}
	return at
}

func (e *Engine) afterFinish(ctx context.Context, r *Request, result string) {
	detail := verb(r, actionDeactivate) + ", attempt " + strconv.Itoa(r.Attempts)
	if r.LastError != "" {
		detail += ": " + r.LastError
	}
	e.auditOutcome(ctx, r, Entry{Actor: e.owner, Action: AuditResult, Result: result, Detail: detail})
	switch {
	case r.State == StateDone && IsDryRun(r.Adapter):
		e.auditOutcome(ctx, r, Entry{Actor: e.owner, Action: AuditWouldDeactivate, Result: r.State, Detail: dryRunNote})
		e.log.Info("dry run: would deactivate account; nothing was changed", "request", r.ID, "incident", r.Incident, "org", r.Org, "adapter", r.Adapter)
	case r.State == StateDone:
		e.auditOutcome(ctx, r, Entry{Actor: e.owner, Action: AuditDeactivate, Result: r.State})
		e.log.Info("account deactivated", "request", r.ID, "incident", r.Incident, "org", r.Org, "adapter", r.Adapter)
	case r.State == StateFailed:
		e.auditOutcome(ctx, r, Entry{Actor: e.owner, Action: AuditFail, Result: r.State, Detail: r.LastError})
		e.log.Error("deactivation failed", "request", r.ID, "incident", r.Incident, "org", r.Org, "err", r.LastError)
	case r.State == StateRetrying:
		e.log.Warn("deactivation attempt failed; will retry", "request", r.ID, "incident", r.Incident,
			"attempt", r.Attempts, "next_attempt", r.NextAttempt, "err", r.LastError)
	}
	if err := e.markPending(ctx, r); err != nil {
		e.log.Warn("pending mark not updated; ProcessDue repairs it", "err", err, "request", r.ID)
	}
}

// dryRunNote is what audit entries of the dry run say about the account.
const dryRunNote = "dry run: nothing was changed"

// verb names the action for people: "deactivate", or "would deactivate (dry run)".
func verb(r *Request, action string) string {
	if IsDryRun(r.Adapter) {
		return "would " + action + " (dry run)"
	}
	return action
}

// ProcessDue makes one pass over the requests that may need work (pending marks): it runs
// the due ones (one adapter call each), resumes requests whose owner's lease expired, and
// clears marks of requests that need nothing. It handles at most 512 requests per pass and
// returns how many adapter calls it made. Errors of single requests are logged; the first
// one is returned after the pass.
func (e *Engine) ProcessDue(ctx context.Context) (int, error) {
	ids, err := e.pendingIDs(ctx, maxPerPass)
	if err != nil {
		return 0, fmt.Errorf("respond: %w", err)
	}
	calls := 0
	var first error
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		before, _, err := e.load(ctx, id)
		if errors.Is(err, ErrNotFound) {
			_ = e.kv.Delete(ctx, pendKey(id))
			continue
		}
		if err == nil && before.Terminal() {
			err = e.markPending(ctx, before)
		} else if err == nil && due(before, e.opts.Clock()) {
			var after *Request
			after, err = e.drive(ctx, id)
			if after != nil && (after.Attempts != before.Attempts || after.State != before.State) {
				calls++
			}
		}
		if err != nil {
			e.log.Warn("due request not processed", "err", err, "request", id)
			first = cmpOrErr(first, err)
		}
	}
	return calls, first
}

func cmpOrErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Run calls ProcessDue every PollInterval until ctx ends, then returns nil. Whether a request
// is due is decided on the injected clock; the interval itself is wall time.
func (e *Engine) Run(ctx context.Context) error {
	tick := time.NewTicker(e.opts.PollInterval)
	defer tick.Stop()
	failing := false
	for {
		_, err := e.ProcessDue(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			e.log.Warn("processing due requests failed; retrying", "err", err)
			failing = true
		case err == nil && failing:
			e.log.Info("processing due requests again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
