package rules

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // localHour() must not depend on the host having zoneinfo

	"github.com/expr-lang/expr/vm"

	"breachd/directory"
	"breachd/event"
)

// Default bounds of an Engine's state, per rule (see WithLimits).
const (
	DefaultMaxKeys    = 100_000 // window keys, and separately suppression keys
	DefaultMaxEntries = 10_000  // counted events kept per window key
)

// Option configures an Engine. It returns an error only where configuring can fail
// (registering metrics).
type Option func(*Engine) error

// WithLogger sets the logger for rule evaluation failures (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(g *Engine) error {
		if l != nil {
			g.log = l
		}
		return nil
	}
}

// WithLocation sets the time zone of localHour() and localWeekday() (default Europe/Oslo).
func WithLocation(loc *time.Location) Option {
	return func(g *Engine) error {
		g.loc = loc
		return nil
	}
}

// WithLimits bounds state per rule: maxKeys window keys (and as many suppression keys), and
// maxEntries counted events per window key. Values < 1 keep the defaults.
func WithLimits(maxKeys, maxEntries int) Option {
	return func(g *Engine) error {
		if maxKeys > 0 {
			g.maxKeys = maxKeys
		}
		if maxEntries > 0 {
			g.maxEntries = maxEntries
		}
		return nil
	}
}

// Engine evaluates a Set against events, keeping the rules' window and suppression state.
//
// Evaluate, Swap and Stats are safe for concurrent use; Evaluate calls are serialised (one
// expression VM and one state per engine), so for parallelism run one Engine per partition of
// accounts: the pipeline keeps all events of an account on one partition, so windows keyed by
// the account are complete there (a window keyed by anything else, say an IP, sees only its
// partition's share). Window and suppression time is event time, so replays and backtests give the
// same alerts as the live run; the clock only stamps Alert.Detected.
type Engine struct {
	set        atomic.Pointer[Set]
	dir        *directory.Directory
	clock      func() time.Time
	loc        *time.Location
	log        *slog.Logger
	maxKeys    int
	maxEntries int

	mu      sync.Mutex
	vm      vm.VM
	env     Env
	local   time.Time // event time in loc, computed on first use per event
	localOK bool
	factsOK [2]bool               // env.Actor, env.Subject are those of env.Event
	applied *Set                  // the set states was built for
	states  []*ruleState          // parallel to applied.rules
	byID    map[string]*ruleState // for Swap: state of rules whose id persists is kept
	lk      lookups               // history lookups (lookup.go)
}

type ruleState struct {
	windowSig string
	win       *windowState
	sup       *suppressState
	stats     RuleStats
	lastErr   string
}

// RuleStats counts one rule's work since its id first appeared in the engine.
type RuleStats struct {
	Rule         string
	Evaluated    uint64 // events of the rule's kinds
	Hits         uint64 // condition true
	Excepted     uint64 // hits dropped by an exception
	Suppressed   uint64 // hits folded into an earlier alert
	Alerts       uint64
	Errors       uint64 // expression failures at run time
	Lookups      uint64 // history lookup function calls (lookup.go)
	LookupErrors uint64 // lookup calls that gave the safe default: failed, timed out, skipped or not configured
	WindowKeys   int
	SuppressKeys int
	Evictions    uint64 // keys evicted at the key cap
}

// NewEngine returns an engine evaluating set with the relations of dir (nil: an empty directory).
// Every directory question a rule asks is answered as of the evaluated event's time (Directory.At),
// whatever dir has applied since. The caller applies a directory event to dir (Directory.Apply)
// before evaluating it, so rules see the catalogue with the change. clock stamps alerts (nil:
// time.Now). It fails only when an option does (WithLookup's metrics cannot be registered).
func NewEngine(set *Set, dir *directory.Directory, clock func() time.Time, opts ...Option) (*Engine, error) {
	if dir == nil {
		dir = directory.New()
	}
	if clock == nil {
		clock = time.Now
	}
	g := &Engine{dir: dir, clock: clock, maxKeys: DefaultMaxKeys, maxEntries: DefaultMaxEntries,
		log: slog.New(slog.DiscardHandler), byID: make(map[string]*ruleState)}
	for _, o := range opts {
		if err := o(g); err != nil {
			return nil, err
		}
	}
	if g.loc == nil {
		loc, err := time.LoadLocation("Europe/Oslo")
		if err != nil { // tzdata is embedded (see doc.go); unreachable in practice
			loc = time.FixedZone("CET", 3600)
		}
		g.loc = loc
	}
	asOf := func() directory.View { return dir.At(g.env.Event.Time) } // the directory at the event's time
	g.env = Env{
		Teaches:          func(t, p string) bool { return asOf().Teaches(t, p) },
		ContactTeacherOf: func(t, p string) bool { return asOf().ContactTeacherOf(t, p) },
		GuardianStatus:   func(gu, c string) string { return asOf().GuardianStatus(gu, c) },
		SameNIN:          func(u string) []string { return asOf().SameNIN(u) },
		InGroup:          func(u, grp string) bool { _, ok := asOf().IsMember(u, grp); return ok },
		GroupRole:        func(u, grp string) string { r, _ := asOf().IsMember(u, grp); return r },
		Person:           func(u string) Facts { return factsOf(asOf(), u) },
		LocalHour:        func() int { return g.localTime().Hour() },
		LocalWeekday:     func() int { return int(g.localTime().Weekday()) },
	}
	g.bindLookups()
	g.set.Store(set)
	return g, nil
}

// Swap replaces the rule set atomically; the next Evaluate uses it. Window state is kept for
// rules whose id persists with the same window key, count_if and distinct expressions (a
// changed `over` applies to the kept events); suppression state and stats are kept by id.
func (g *Engine) Swap(set *Set) { g.set.Store(set) }

// Set returns the rule set in use.
func (g *Engine) Set() *Set { return g.set.Load() }

// Evaluate runs the rules whose `when` includes e's kind and returns their alerts, in rule
// order; nil when none fired. A rule whose expression fails at run time raises no alert for e;
// the failure is counted in its stats and logged (once per distinct message). History lookups
// run under ctx (each also bounded by LookupConfig.Timeout); one that ctx ends gives its safe
// default like any failed lookup.
func (g *Engine) Evaluate(ctx context.Context, e *event.Event) []event.Alert {
	set := g.set.Load()
	k := kindIndex(e.Kind)
	if set == nil || k < 0 || len(set.byKind[k]) == 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if set = g.set.Load(); set == nil { // again under the lock: a Swap may have run
		return nil
	}
	if g.applied != set {
		g.reconcile(set)
	}
	g.env.Event, g.env.Ctx, g.localOK, g.factsOK = e, ctx, false, [2]bool{}
	var alerts []event.Alert
	for _, i := range set.byKind[k] {
		if a, ok := g.evalRule(set.rules[i], g.states[i], e); ok {
			alerts = append(alerts, a)
		}
	}
	g.observeLookups(e)
	g.env.Event, g.env.Ctx, g.env.Actor, g.env.Subject, g.lk.st = nil, nil, Facts{}, Facts{}, nil // keep nothing of e or ctx
	return alerts
}

// reconcile builds the per-rule state for set, keeping what persists by id.
func (g *Engine) reconcile(set *Set) {
	states := make([]*ruleState, len(set.rules))
	byID := make(map[string]*ruleState, len(set.rules))
	for i, r := range set.rules {
		st := g.byID[r.info.ID]
		if st == nil {
			st = &ruleState{stats: RuleStats{Rule: r.info.ID}}
		}
		switch {
		case r.window == nil:
			st.win, st.windowSig = nil, ""
		case st.win == nil || st.windowSig != r.window.sig:
			st.win, st.windowSig = newWindowState(g.maxKeys, g.maxEntries), r.window.sig
		}
		switch {
		case r.suppress == nil:
			st.sup = nil
		case st.sup == nil:
			st.sup = newSuppressState(g.maxKeys)
		}
		states[i], byID[r.info.ID] = st, st
	}
	g.applied, g.states, g.byID = set, states, byID
}

// facts looks up the directory facts r needs, once per event.
func (g *Engine) facts(r *rule, e *event.Event) {
	if r.facts[0] && !g.factsOK[0] {
		g.env.Actor, g.factsOK[0] = factsOf(g.dir.At(e.Time), e.Account()), true
	}
	if r.facts[1] && !g.factsOK[1] {
		g.env.Subject, g.factsOK[1] = factsOf(g.dir.At(e.Time), subjectOf(e)), true
	}
}

func (g *Engine) evalRule(r *rule, st *ruleState, e *event.Event) (event.Alert, bool) {
	st.stats.Evaluated++
	g.env.Window, g.lk.st = Window{}, st
	if w := r.window; w != nil {
		key, ok := g.evalString(r, st, "window.key", w.key)
		if !ok {
			return event.Alert{}, false
		}
		if key != "" {
			counted, val := true, ""
			if w.countIf != nil {
				if counted, ok = g.evalBool(r, st, "window.count_if", w.countIf); !ok {
					return event.Alert{}, false
				}
			}
			if counted && w.distinct != nil {
				if val, ok = g.evalString(r, st, "window.distinct", w.distinct); !ok {
					return event.Alert{}, false
				}
			}
			g.env.Window = st.win.observe(key, e.Time, counted, val, w.over, w.distinct != nil)
		}
	}
	if hit, ok := g.evalBool(r, st, "condition", r.cond); !ok || !hit {
		return event.Alert{}, false
	}
	st.stats.Hits++
	for _, x := range r.except {
		if v, ok := g.evalString(r, st, "exception.field", x.field); ok {
			if _, excepted := x.values[v]; excepted {
				st.stats.Excepted++
				return event.Alert{}, false
			}
		}
	}
	var folded int64
	if r.suppress != nil {
		// A failing key raises the alert unsuppressed: losing an alert is worse.
		if key, ok := g.evalString(r, st, "suppress.key", r.suppress.key); ok && key != "" {
			var quiet bool
			if quiet, folded = st.sup.hit(key, e.ID, e.Time, r.suppress.dur); quiet {
				st.stats.Suppressed++
				return event.Alert{}, false
			}
		}
	}
	summary := r.info.Title
	if r.summary != nil {
		if s, ok := g.evalString(r, st, "summary", r.summary); ok {
			summary = s
		}
	}
	st.stats.Alerts++
	return event.Alert{
		ID:         event.AlertID(r.info.ID, e.ID),
		RuleID:     r.info.ID,
		Title:      r.info.Title,
		Severity:   r.info.Severity,
		Tags:       slices.Clone(r.info.Tags),
		Org:        e.Org,
		Account:    e.Account(),
		Subject:    subjectOf(e),
		EventID:    e.ID,
		EventKind:  e.Kind,
		EventTime:  e.Time,
		Detected:   g.clock(),
		Summary:    summary,
		Respond:    r.info.Respond,
		Suppressed: folded,
	}, true
}

// evalBool checks x's guards in Go and runs its program only when they pass and are not all
// of it. ok is false when the program failed.
func (g *Engine) evalBool(r *rule, st *ruleState, part string, x *boolExpr) (v, ok bool) {
	for i := range x.guards {
		if !x.guards[i].pass(g.env.Event) {
			return false, true
		}
	}
	if x.whole {
		return true, true
	}
	g.facts(r, g.env.Event)
	out, err := g.vm.Run(x.prog, &g.env)
	if err != nil {
		g.failed(r, st, part, err)
		return false, false
	}
	v, _ = out.(bool)
	return v, true
}

// evalString reads a bare event field in Go, else runs x's program.
func (g *Engine) evalString(r *rule, st *ruleState, part string, x *stringExpr) (string, bool) {
	if x.get != nil {
		return x.get(g.env.Event), true
	}
	g.facts(r, g.env.Event)
	out, err := g.vm.Run(x.prog, &g.env)
	if err != nil {
		g.failed(r, st, part, err)
		return "", false
	}
	s, _ := out.(string)
	return s, true
}

func (g *Engine) failed(r *rule, st *ruleState, part string, err error) {
	st.stats.Errors++
	if msg := part + ": " + err.Error(); msg != st.lastErr {
		st.lastErr = msg
		g.log.Warn("rule expression failed", "rule", r.info.ID, "part", part, "file", r.info.File, "err", err)
	}
}

func (g *Engine) localTime() time.Time {
	if !g.localOK && g.env.Event != nil {
		g.local, g.localOK = g.env.Event.Time.In(g.loc), true
	}
	return g.local
}

// Stats reports per-rule counters for the rules of the current set, in set order.
func (g *Engine) Stats() []RuleStats {
	set := g.set.Load()
	if set == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.applied != set {
		g.reconcile(set)
	}
	out := make([]RuleStats, len(g.states))
	for i, st := range g.states {
		out[i] = st.stats
		if st.win != nil {
			out[i].WindowKeys = len(st.win.keys)
			out[i].Evictions += st.win.evictions
		}
		if st.sup != nil {
			out[i].SuppressKeys = len(st.sup.keys)
			out[i].Evictions += st.sup.evictions
		}
	}
	return out
}
