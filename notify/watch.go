package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"breachd/event"
	"breachd/history"
	"breachd/respond"
)

// EvidenceStore answers the evidence lookups and keeps the snapshots (history.Store).
type EvidenceStore interface {
	Logins(ctx context.Context, ask history.Asker, account string, from, to time.Time) ([]history.LoginRow, error)
	Access(ctx context.Context, ask history.Asker, account string, from, to time.Time) (history.AccessSummary, error)
	SaveEvidence(ctx context.Context, e history.Evidence) error
}

// Responder executes deactivation requests (respond.Engine).
type Responder interface {
	Request(ctx context.Context, t respond.Target, reason, requestedBy string) (*respond.Request, error)
	Get(ctx context.Context, incident string) (*respond.Request, error)
}

// ParseMarks reads deadline marks as people write them ("24h", "48h", ...): each a duration
// between 0 and the 72-hour reporting window.
func ParseMarks(specs []string) ([]time.Duration, error) {
	var marks []time.Duration
	for _, p := range specs {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || d <= 0 || d >= event.ReportWindow {
			return nil, fmt.Errorf("%q is not a duration between 0 and 72h (e.g. 24h)", p)
		}
		marks = append(marks, d)
	}
	return marks, nil
}

// WatchOptions configures a Watcher.
type WatchOptions struct {
	// Marks are the times after awareness at which a deadline warning goes out while the
	// incident is not reported (default 24 h, 48 h, 66 h).
	Marks []time.Duration
	// Interval between passes (default 30 s).
	Interval time.Duration
	// EvidenceLookback is how far before the incident's first alert the evidence window starts
	// (default 30 days); it ends at the moment of collection.
	EvidenceLookback time.Duration
	Evidence         EvidenceStore // nil: no evidence
	Responder        Responder     // nil: deactivation requests stay recorded only
	// Clock decides when marks are due (default time.Now); the changes take the time of the
	// Incidents service.
	Clock  func() time.Time
	Logger *slog.Logger
}

// DefaultMarks are the deadline warnings: a day, two days, and six hours before the deadline.
var DefaultMarks = []time.Duration{24 * time.Hour, 48 * time.Hour, 66 * time.Hour}

// Watcher keeps open incidents moving between alerts: it runs the 72-hour clock (deadline
// warnings at the marks while not reported), collects evidence when an incident opens and again
// when later alerts extend it, and follows its deactivation request to the end. Every change
// goes through Incidents (compare-and-set, mirror, INCIDENTS), so several notifier processes
// may each run a Watcher: one of them wins each change, and the change reaches INCIDENTS once;
// its announcement (the deadline warning) comes from there.
//
// A pass also repairs a lost publication of a deadline warning or of a person's state change
// (see republisher). A pass looks only at the open incidents: the Watcher keeps them in memory from a watch on
// the bucket (see openIndex), so its cost follows the open incidents, not all incidents ever.
type Watcher struct {
	inc   *Incidents
	index *openIndex
	rep   *republisher
	opts  WatchOptions
	log   *slog.Logger
	seen  atomic.Int64 // incidents looked at by passes (tests)
}

// NewWatcher returns a Watcher changing incidents through inc. It follows the incidents bucket
// until ctx ends.
func NewWatcher(ctx context.Context, inc *Incidents, opts WatchOptions) (*Watcher, error) {
	if inc == nil {
		return nil, errors.New("watcher: nil Incidents")
	}
	if len(opts.Marks) == 0 {
		opts.Marks = DefaultMarks
	}
	opts.Marks = slices.Clone(opts.Marks)
	slices.Sort(opts.Marks)
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.EvidenceLookback <= 0 {
		opts.EvidenceLookback = EvidenceLookback
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger.With("component", "notify.watch")
	w := &Watcher{inc: inc, index: newOpenIndex(inc.kv, log), rep: &republisher{js: inc.js, done: map[string]int64{}},
		opts: opts, log: log}
	go w.index.follow(ctx)
	return w, nil
}

// Run makes a pass every Interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		if err := w.Pass(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("incident watch pass failed; next pass retries", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Pass looks at every open incident once, as the bucket had them when it was called. Errors
// of one incident are logged and do not stop the others; the returned error joins them.
func (w *Watcher) Pass(ctx context.Context) error {
	incs, err := w.index.snapshot(ctx)
	if err != nil {
		return err
	}
	w.rep.keep(incs)
	var errs []error
	for _, inc := range incs {
		w.seen.Add(1)
		if err := w.watch(ctx, inc); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", inc.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (w *Watcher) watch(ctx context.Context, inc *event.Incident) error {
	var errs []error
	if err := w.rep.repair(ctx, w.inc, inc, w.opts.Clock()); err != nil {
		errs = append(errs, err)
	}
	for _, step := range []func(context.Context, *event.Incident) (*event.Incident, error){w.deactivation, w.evidence, w.escalate} {
		next, err := step(ctx, inc)
		if err != nil {
			errs = append(errs, err)
		}
		if next != nil {
			inc = next
			if err == nil {
				w.rep.published(inc) // handed off: nothing to repair
			}
		}
	}
	return errors.Join(errs...)
}

// escalate records the deadline warning of the latest mark passed, once, while not reported;
// its announcement is the warning. Marks passed while nobody watched are recorded in the same
// change without a warning of their own: the latest one says more.
func (w *Watcher) escalate(ctx context.Context, inc *event.Incident) (*event.Incident, error) {
	if inc.Reported() {
		return nil, nil
	}
	now := w.opts.Clock()
	var due string
	var passed []string
	for _, m := range w.opts.Marks {
		if !now.Before(inc.Aware.Add(m)) && !slices.Contains(inc.Escalations, markName(m)) {
			if due != "" {
				passed = append(passed, due)
			}
			due = markName(m)
		}
	}
	if due == "" {
		return nil, nil
	}
	next, err := w.inc.MarkEscalated(ctx, inc.ID, due, passed...)
	if next != nil {
		w.log.Warn("incident not reported", "incident_id", inc.ID, "mark", due, "deadline", next.Deadline)
	}
	return next, err
}

func markName(d time.Duration) string { return fmt.Sprintf("%dh", int(d.Hours())) }

// evidence collects the account's logins and data access when the incident has none yet, or
// when an alert about a later event arrived after the last collection.
func (w *Watcher) evidence(ctx context.Context, inc *event.Incident) (*event.Incident, error) {
	if w.opts.Evidence == nil {
		return nil, nil
	}
	if n := len(inc.Evidence); n > 0 && !inc.LastSeen.After(inc.Evidence[n-1].To) {
		return nil, nil
	}
	return CollectEvidence(ctx, w.opts.Evidence, w.inc, inc, w.opts.EvidenceLookback, history.Asker{Who: actor})
}

// CollectEvidence takes a logins and an access snapshot of inc's account over [first alert −
// lookback, now), stores both in history and references them in the incident through
// incidents (now is its clock). ask is who asks (Who, and the identity: Issuer, Subject,
// Roles) in the audit log; the lookups are audited with the incident id as their purpose.
func CollectEvidence(ctx context.Context, src EvidenceStore, incidents *Incidents, inc *event.Incident, lookback time.Duration, ask history.Asker) (*event.Incident, error) {
	now := incidents.clock()
	start := inc.FirstSeen
	if start.IsZero() || inc.Aware.Before(start) {
		start = inc.Aware
	}
	from, to := start.Add(-lookback), now
	if max := history.MaxWindow; to.Sub(from) > max {
		from = to.Add(-max)
	}
	ask.Why, ask.Incident = "evidence for incident "+inc.ID, inc.ID
	logins, err := src.Logins(ctx, ask, inc.Account, from, to)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	access, err := src.Access(ctx, ask, inc.Account, from, to)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	var out *event.Incident
	for _, snap := range []struct {
		kind   string
		rows   int
		answer any
	}{{history.EvidenceLogins, len(logins), logins}, {history.EvidenceAccess, len(access.Rows), access}} {
		e, err := history.NewEvidence(inc.ID, snap.kind, inc.Account, from, to, now, snap.rows, snap.answer)
		if err != nil {
			return out, err
		}
		if err := src.SaveEvidence(ctx, e); err != nil {
			return out, err
		}
		ref := event.EvidenceRef{ID: e.ID, Kind: e.Kind, Taken: e.Taken, From: e.From, To: e.To, Rows: e.Rows, Hash: e.SHA256}
		if out, err = incidents.RecordEvidence(ctx, inc.ID, ref); err != nil {
			return out, err
		}
	}
	return out, nil
}

// DeactivationDryRun is the incident's deactivation state when the dry-run adapter "did" it:
// the request went through every guard rail, and no account was changed.
const DeactivationDryRun = "dry-run"

// terminal deactivation states: nothing more will happen without a person.
var terminalDeactivation = []string{respond.StateDone, respond.StateFailed, respond.StateRefused, respond.StateReactivated, respond.StateCancelled, DeactivationDryRun}

// DeactivationState is the incident's view of a request's state.
func DeactivationState(r *respond.Request) string {
	if r.State == respond.StateDone && respond.IsDryRun(r.Adapter) {
		return DeactivationDryRun
	}
	return r.State
}

// deactivation asks the responder for the incident's request (creating it if the notifier's
// own request was lost) and mirrors its state into the incident.
func (w *Watcher) deactivation(ctx context.Context, inc *event.Incident) (*event.Incident, error) {
	if w.opts.Responder == nil || !inc.RespondRequested || slices.Contains(terminalDeactivation, inc.Deactivation) {
		return nil, nil
	}
	r, err := RequestDeactivation(ctx, w.opts.Responder, inc)
	if err != nil {
		return nil, err
	}
	return w.inc.RecordDeactivation(ctx, inc.ID, DeactivationState(r), RequestDetail(r))
}

// RequestDetail is what the timeline says about a request's state.
func RequestDetail(r *respond.Request) string {
	switch {
	case r.State == respond.StateDone && respond.IsDryRun(r.Adapter):
		return cmp.Or(r.LastError, DeactivationText(DeactivationDryRun))
	case r.State == respond.StateCancelled && r.Cancellation != nil:
		return "cancelled by " + r.Cancellation.By + ": " + r.Cancellation.Comment
	}
	return cmp.Or(r.Refusal, r.LastError, "via "+r.Adapter)
}

// DeactivationText is an incident's deactivation state as people should read it: the dry run
// says that it would have deactivated the account and changed nothing.
func DeactivationText(state string) string {
	if state == DeactivationDryRun {
		return "dry run: would deactivate the account; nothing was changed"
	}
	return state
}

// RequestDeactivation files (idempotently) the deactivation request of inc.
func RequestDeactivation(ctx context.Context, r Responder, inc *event.Incident) (*respond.Request, error) {
	req, err := r.Request(ctx, respond.Target{Org: inc.Org, Account: inc.Account, Incident: inc.ID},
		"incident "+inc.ID+": "+inc.Summary, actor)
	if err != nil {
		return nil, fmt.Errorf("deactivation request: %w", err)
	}
	return req, nil
}
