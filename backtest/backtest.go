package backtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"breachd/directory"
	"breachd/event"
	"breachd/history"
	"breachd/rules"
)

// Source streams stored events in (time, id) order; *history.Store is one. Replay calls fn for
// every event of opts.Kinds with from <= time < to (a zero bound is open), returns how many it
// delivered, and returns an error of fn unchanged. It may call opts.Planned once before the
// first event.
type Source interface {
	Replay(ctx context.Context, from, to time.Time, opts history.ReplayOptions, fn func(*event.Event) error) (int64, error)
}

// Options configures Run.
type Options struct {
	From, To time.Time  // the range evaluated, [From, To); required
	Rules    *rules.Set // required
	// Only restricts the report to these rule ids (default: every rule of Rules). Every rule
	// is still evaluated (rules are independent, so the result is the same).
	Only []string
	// Warmup is the stretch before From replayed to fill windows; its alerts are discarded.
	// 0: none (windows start empty at From). See AutoWarmup.
	Warmup time.Duration
	// Top is how many (rule, account) pairs with the most hits the report lists (0: none).
	Top int
	// MaxKeys bounds the (rule, account) pairs tallied (default 1 000 000).
	MaxKeys int
	// ChunkRows is passed to the source (history.ReplayOptions.ChunkRows; 0: its default).
	ChunkRows int
	// Lookup answers the rules' history lookups (newCountry, firstLogin, previousPerson);
	// *history.Store is one. The engine asks about the stretch before each event's own time,
	// so later stored events never leak into an answer. nil: lookups give their safe defaults
	// and are counted in RuleSummary.LookupErrors.
	Lookup rules.Lookup
	// Location is the time zone of localHour() in rules (default Europe/Oslo).
	Location *time.Location
	// Progress, if set, is called from Run's goroutine about every ProgressEvery (default 3 s)
	// and once at the end of each phase.
	Progress      func(Progress)
	ProgressEvery time.Duration
	Logger        *slog.Logger
	// Clock measures the run and stamps alerts' Detected (default time.Now).
	Clock func() time.Time
}

// Phases of a run, in Progress.Phase.
const (
	PhaseDirectory = "directory"
	PhaseWarmup    = "warm-up"
	PhaseReplay    = "replay"
)

// Progress reports how far a phase of a run is.
type Progress struct {
	Phase     string
	Events    int64         // events of the phase so far
	Planned   int64         // rows the store holds for the phase (an upper bound); 0 if unknown
	EventTime time.Time     // time of the latest event
	Elapsed   time.Duration // since the phase began
	Done      bool          // the phase's last report
}

// Rate is the phase's events per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Events) / p.Elapsed.Seconds()
}

// String is the progress line `breachd rules backtest` prints.
func (p Progress) String() string {
	pct := ""
	if p.Planned > 0 {
		pct = fmt.Sprintf(" of ~%d (%d%%)", p.Planned, min(100, 100*p.Events/p.Planned))
	}
	at := ""
	if !p.EventTime.IsZero() {
		at = ", at " + p.EventTime.UTC().Format("2006-01-02T15:04:05Z")
	}
	state := "…"
	if p.Done {
		state = " done"
	}
	return fmt.Sprintf("backtest %s%s %d events%s in %s, %.0f events/s%s", p.Phase, state, p.Events, pct,
		p.Elapsed.Round(100*time.Millisecond), p.Rate(), at)
}

// AutoWarmup is the longest window of the rules in set: the warm-up after which every window
// holds what a live detector's would.
func AutoWarmup(set *rules.Set) time.Duration {
	var w time.Duration
	for _, r := range set.Rules() {
		w = max(w, r.Window)
	}
	return w
}

// Run backtests opts.Rules over src (see the package documentation) and returns the report.
// It blocks until done; when ctx ends it returns ctx's error.
func Run(ctx context.Context, src Source, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	log := opts.Logger.With("component", "backtest")
	rep := &Report{From: opts.From, To: opts.To, Warmup: opts.Warmup}
	dir := directory.New()
	var dirErrs int64
	apply := func(e *event.Event) {
		if e.Kind != event.KindDirectory {
			return
		}
		if err := dir.Apply(e); err != nil {
			if dirErrs++; dirErrs == 1 {
				log.Warn("directory event not applied (further ones are only counted)", "id", e.ID, "err", err)
			}
		}
	}
	engOpts := []rules.Option{rules.WithLogger(log), rules.WithLocation(opts.Location)}
	if opts.Lookup != nil {
		// A backtest waits for an answer rather than give a default: a generous timeout, and
		// no pause after a failure (the pause runs on the wall clock, so it would make the
		// result depend on timing).
		engOpts = append(engOpts, rules.WithLookup(opts.Lookup, rules.LookupConfig{Timeout: lookupTimeout, Backoff: time.Millisecond}))
	}
	eng, err := rules.NewEngine(opts.Rules, dir, opts.Clock, engOpts...)
	if err != nil {
		return nil, err
	}
	start := opts.Clock()
	warmStart := opts.From.Add(-opts.Warmup)

	rep.DirectoryEvents, err = opts.phase(ctx, src, PhaseDirectory, time.Time{}, warmStart, []event.Kind{event.KindDirectory},
		func(e *event.Event) { apply(e) })
	if err != nil {
		return nil, err
	}
	if opts.Warmup > 0 {
		rep.WarmupEvents, err = opts.phase(ctx, src, PhaseWarmup, warmStart, opts.From, nil, func(e *event.Event) {
			apply(e)
			eng.Evaluate(ctx, e)
		})
		if err != nil {
			return nil, err
		}
	}
	before := eng.Stats()
	t := newTally(opts.Only, opts.MaxKeys)
	rep.Events, err = opts.phase(ctx, src, PhaseReplay, opts.From, opts.To, nil, func(e *event.Event) {
		apply(e)
		for _, a := range eng.Evaluate(ctx, e) {
			t.add(&a)
		}
	})
	if err != nil {
		return nil, err
	}
	rep.Duration = opts.Clock().Sub(start)
	if read := rep.DirectoryEvents + rep.WarmupEvents + rep.Events; rep.Duration > 0 {
		rep.EventsPerSecond = float64(read) / rep.Duration.Seconds()
	}
	rep.DirectoryErrors = dirErrs
	t.fill(rep, opts.Rules, before, eng.Stats(), opts.Top)
	log.Info("backtest done", "events", rep.Events, "alerts", rep.Alerts, "duration", rep.Duration.Round(time.Millisecond))
	return rep, nil
}

func (o *Options) defaults() error {
	switch {
	case o.Rules == nil:
		return errors.New("backtest: no rules")
	case o.From.IsZero() || o.To.IsZero() || !o.From.Before(o.To):
		return fmt.Errorf("backtest: want From before To, got [%s, %s)", o.From.Format(time.RFC3339), o.To.Format(time.RFC3339))
	case o.Warmup < 0 || o.Warmup > rules.MaxWindow:
		return fmt.Errorf("backtest: warm-up %s is outside [0, %s]", o.Warmup, rules.MaxWindow)
	case o.Top < 0:
		return fmt.Errorf("backtest: top %d is negative", o.Top)
	}
	var ids []string
	for _, r := range o.Rules.Rules() {
		ids = append(ids, r.ID)
	}
	for _, id := range o.Only {
		if !slices.Contains(ids, id) {
			return fmt.Errorf("backtest: no rule %q in the set (it has %s)", id, strings.Join(ids, ", "))
		}
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 1_000_000
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Location == nil {
		loc, err := time.LoadLocation("Europe/Oslo")
		if err != nil {
			return fmt.Errorf("backtest: %w", err)
		}
		o.Location = loc
	}
	return nil
}

// lookupTimeout bounds one history lookup of a rule in a backtest.
const lookupTimeout = 30 * time.Second

// progressCheck is how many events pass between looks at the clock for progress reports.
const progressCheck = 4096

// phase replays [from, to) of kinds (nil: all) from src into fn, in order, reporting progress.
// (Reading on a goroutine of its own, ahead of the evaluation, was measured: no faster on two
// cores, where the embedded engine's threads already use the second one.)
func (o *Options) phase(ctx context.Context, src Source, name string, from, to time.Time, kinds []event.Kind,
	fn func(*event.Event)) (int64, error) {
	p := Progress{Phase: name}
	began := o.Clock()
	last := began
	report := func(done bool) {
		if o.Progress == nil {
			return
		}
		now := o.Clock()
		p.Elapsed, p.Done, last = now.Sub(began), done, now
		o.Progress(p)
	}
	ropts := history.ReplayOptions{Kinds: kinds, ChunkRows: o.ChunkRows, Planned: func(rows int64, _ int) { p.Planned = rows }}
	n, err := src.Replay(ctx, from, to, ropts, func(e *event.Event) error {
		fn(e)
		p.Events++
		p.EventTime = e.Time
		if p.Events%progressCheck == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if o.Progress != nil && o.Clock().Sub(last) >= o.ProgressEvery {
				report(false)
			}
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("backtest %s phase: %w", name, err)
	}
	report(true)
	return n, nil
}
