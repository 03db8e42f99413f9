package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/event"
	"breachd/history"
	"breachd/notify/channel"
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

// Dispatcher sends notifications (channel.Dispatcher).
type Dispatcher interface {
	Dispatch(ctx context.Context, m channel.Message) error
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
	Dispatcher       Dispatcher    // nil: deadline warnings only in the timeline and the log
	Mirror           Mirror        // nil: no mirror
	Clock            func() time.Time
	Logger           *slog.Logger
}

// DefaultMarks are the deadline warnings: a day, two days, and six hours before the deadline.
var DefaultMarks = []time.Duration{24 * time.Hour, 48 * time.Hour, 66 * time.Hour}

// Watcher keeps open incidents moving between alerts: it runs the 72-hour clock (deadline
// warnings at the marks while not reported), collects evidence when an incident opens and again
// when later alerts extend it, and follows its deactivation request to the end. Every change is
// a compare-and-set on the incident, so several notifier processes may each run a Watcher: one
// of them wins each change and only the winner sends the warning.
type Watcher struct {
	js    jetstream.JetStream
	store *Store
	opts  WatchOptions
	log   *slog.Logger
}

// NewWatcher returns a Watcher over the incidents bucket.
func NewWatcher(ctx context.Context, js jetstream.JetStream, opts WatchOptions) (*Watcher, error) {
	store, err := newStore(ctx, js)
	if err != nil {
		return nil, fmt.Errorf("watcher: %w", err)
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
		opts.EvidenceLookback = 30 * 24 * time.Hour
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Watcher{js: js, store: store, opts: opts, log: opts.Logger.With("component", "notify.watch")}, nil
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

// Pass looks at every open incident once. Errors of one incident are logged and do not stop
// the others; the returned error joins them.
func (w *Watcher) Pass(ctx context.Context) error {
	incs, err := w.store.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, inc := range incs {
		if err := w.announce(ctx, inc); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", inc.ID, err))
		}
		if !inc.Open() {
			continue
		}
		if err := w.watch(ctx, inc); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", inc.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (w *Watcher) watch(ctx context.Context, inc *event.Incident) error {
	var errs []error
	steps := []func(context.Context, *event.Incident) (*event.Incident, error){w.deactivation, w.evidence, w.escalate}
	for _, step := range steps {
		next, err := step(ctx, inc)
		if err != nil {
			errs = append(errs, err)
		}
		if next != nil {
			inc = next
			if w.opts.Mirror != nil {
				if err := w.opts.Mirror.UpsertIncident(ctx, inc); err != nil {
					errs = append(errs, fmt.Errorf("mirror: %w", err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// escalate sends the deadline warning of the latest mark passed, once, while not reported.
func (w *Watcher) escalate(ctx context.Context, inc *event.Incident) (*event.Incident, error) {
	if inc.Reported() {
		return nil, nil
	}
	now := w.opts.Clock()
	var due time.Duration
	for _, m := range w.opts.Marks {
		if !now.Before(inc.Aware.Add(m)) && !slices.Contains(inc.Escalations, markName(m)) {
			due = m
		}
	}
	if due == 0 {
		return nil, nil
	}
	// Marks passed while nobody watched are recorded without a warning of their own: the
	// latest one says more.
	var out *event.Incident
	for _, m := range w.opts.Marks {
		if m > due || slices.Contains(inc.Escalations, markName(m)) {
			continue
		}
		next, added, err := w.store.MarkEscalated(ctx, inc.ID, markName(m), now)
		if err != nil {
			return out, err
		}
		if next != nil {
			out = next
		}
		if added && m == due {
			w.log.Warn("incident not reported", "incident_id", inc.ID, "mark", markName(m), "deadline", out.Deadline)
			if w.opts.Dispatcher != nil {
				if err := w.opts.Dispatcher.Dispatch(ctx, channel.DeadlineMessage(out, m, now)); err != nil {
					return out, fmt.Errorf("deadline warning %s: %w", markName(m), err)
				}
			}
		}
	}
	return out, nil
}

// announceWindow bounds how far back lifecycle changes are announced: well inside the
// dispatcher's deduplication memory (7 days), so a change is never announced twice.
const announceWindow = 24 * time.Hour

// announce sends every lifecycle change people made to inc (breachd's own are announced as
// they happen) in the last announceWindow; the dispatcher delivers each once.
func (w *Watcher) announce(ctx context.Context, inc *event.Incident) error {
	if w.opts.Dispatcher == nil {
		return nil
	}
	since := w.opts.Clock().Add(-announceWindow)
	var errs []error
	for _, e := range inc.Timeline {
		if e.Kind == event.TimelineTransition && e.Actor != actor && e.At.After(since) {
			if err := w.opts.Dispatcher.Dispatch(ctx, channel.TransitionMessage(inc, e)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
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
	return CollectEvidence(ctx, w.opts.Evidence, w.store, inc, w.opts.EvidenceLookback, "notify", w.opts.Clock())
}

// CollectEvidence takes a logins and an access snapshot of inc's account over [first alert −
// lookback, now), stores both in history and references them in the incident. who is the
// actor in the audit log (the lookups are audited with the incident id).
func CollectEvidence(ctx context.Context, src EvidenceStore, store *Store, inc *event.Incident, lookback time.Duration, who string, now time.Time) (*event.Incident, error) {
	start := inc.FirstSeen
	if start.IsZero() || inc.Aware.Before(start) {
		start = inc.Aware
	}
	from, to := start.Add(-lookback), now
	if max := history.MaxWindow; to.Sub(from) > max {
		from = to.Add(-max)
	}
	ask := history.Asker{Who: who, Why: "evidence for incident " + inc.ID, Incident: inc.ID}
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
		if out, err = store.RecordEvidence(ctx, inc.ID, ref, now); err != nil {
			return out, err
		}
	}
	return out, nil
}

// DeactivationDryRun is the incident's deactivation state when the dry-run adapter "did" it:
// the request went through every guard rail, and no account was changed.
const DeactivationDryRun = "dry-run"

// terminal deactivation states: nothing more will happen without a person.
var terminalDeactivation = []string{respond.StateDone, respond.StateFailed, respond.StateRefused, respond.StateReactivated, DeactivationDryRun}

// DeactivationState is the incident's view of a request's state.
func DeactivationState(r *respond.Request) string {
	if r.State == respond.StateDone && r.Adapter == (&respond.DryRun{}).Name() {
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
	next, _, err := w.store.RecordDeactivation(ctx, inc.ID, DeactivationState(r), RequestDetail(r), w.opts.Clock())
	return next, err
}

// RequestDetail is what the timeline says about a request's state.
func RequestDetail(r *respond.Request) string {
	if r.State == respond.StateDone && respond.IsDryRun(r.Adapter) {
		return cmp.Or(r.LastError, DeactivationText(DeactivationDryRun))
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
