package rules

import (
	"time"

	"breachd/event"
)

// MaxWindow is the longest window of the rules in s (0 when none has a window): how far back
// events must be replayed through Engine.Warm to restore every window.
func (s *Set) MaxWindow() time.Duration {
	var w time.Duration
	for _, r := range s.rules {
		if r.window != nil {
			w = max(w, r.window.over)
		}
	}
	return w
}

// MaxWindow is the longest window of the engine's current rule set.
func (g *Engine) MaxWindow() time.Duration {
	if set := g.set.Load(); set != nil {
		return set.MaxWindow()
	}
	return 0
}

// Warm records e in the window state of the rules whose `when` includes its kind, exactly as
// Evaluate would, and does nothing else: no condition, no exception, no suppression, no alert,
// no stats (an expression failing in a window key, count_if or distinct is counted and logged
// as in Evaluate). A detector calls it on start with the events it had already evaluated before
// a restart, oldest first, to rebuild windows that live only in memory, before it evaluates new
// events.
//
// The window expressions see the directory as it is now, not as it was when e first came
// through; for windows keyed and counted on event fields (as in the shipped pack) that makes no
// difference. Suppression state is not rebuilt here: Restore does that, from the alerts in
// history. Safe for concurrent use (serialised with Evaluate).
func (g *Engine) Warm(e *event.Event) {
	set := g.set.Load()
	k := kindIndex(e.Kind)
	if set == nil || k < 0 || len(set.byKind[k]) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if set = g.set.Load(); set == nil {
		return
	}
	if g.applied != set {
		g.reconcile(set)
	}
	g.env.Event, g.localOK, g.factsOK = e, false, [2]bool{}
	for _, i := range set.byKind[k] {
		r, st := set.rules[i], g.states[i]
		if r.window != nil {
			g.warmWindow(r, st, e)
		}
	}
	g.env.Event, g.env.Actor, g.env.Subject = nil, Facts{}, Facts{}
}

// warmWindow is the window step of evalRule (engine.go), without what follows it. The two must
// stay the same: TestWarmMatchesEvaluate compares them on every windowed rule of the pack.
func (g *Engine) warmWindow(r *rule, st *ruleState, e *event.Event) {
	w := r.window
	key, ok := g.evalString(r, st, "window.key", w.key)
	if !ok || key == "" {
		return
	}
	counted, val := true, ""
	if w.countIf != nil {
		if counted, ok = g.evalBool(r, st, "window.count_if", w.countIf); !ok {
			return
		}
	}
	if counted && w.distinct != nil {
		if val, ok = g.evalString(r, st, "window.distinct", w.distinct); !ok {
			return
		}
	}
	st.win.observe(key, e.Time, counted, val, w.over, w.distinct != nil)
}

// Suppressions are the rules of the engine's current set that suppress, by id, with their
// suppression periods: the alerts of which Restore needs, from the longest period back.
func (g *Engine) Suppressions() map[string]time.Duration {
	out := make(map[string]time.Duration)
	if set := g.set.Load(); set != nil {
		for _, r := range set.rules {
			if r.suppress != nil {
				out[r.info.ID] = r.suppress.dur
			}
		}
	}
	return out
}

// Restore records that rule ruleID alerted on e, as Evaluate did when it raised that alert: it
// computes the rule's suppression key from e and folds the key's hits until e's time plus the
// rule's period. A detector calls it on start with the alerts in history from one longest
// period back, oldest first, so that a hit suppressed in a run without a restart is suppressed
// after one too. The event itself, evaluated again (it was not acked), alerts again. It does
// nothing for a rule not in the set or not suppressing, or when the key cannot be computed (as
// Evaluate then alerted unsuppressed). Safe for concurrent use (serialised with Evaluate).
func (g *Engine) Restore(ruleID string, e *event.Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	set := g.set.Load()
	if set == nil {
		return
	}
	if g.applied != set {
		g.reconcile(set)
	}
	for i, r := range set.rules {
		if r.info.ID != ruleID || r.suppress == nil {
			continue
		}
		st := g.states[i]
		g.env.Event, g.localOK, g.factsOK = e, false, [2]bool{}
		if key, ok := g.evalString(r, st, "suppress.key", r.suppress.key); ok && key != "" {
			st.sup.restore(key, e.ID, e.Time, r.suppress.dur)
		}
		g.env.Event, g.env.Actor, g.env.Subject = nil, Facts{}, Facts{}
		return
	}
}

// Forget drops the window and suppression state of every rule, as in a new engine (stats are
// kept). A detector that lost its durable to another calls it before standing by: when it
// takes over again it warms up from the stream and restores suppression from history, and
// state of its earlier active period would count events twice. Safe for concurrent use (serialised with Evaluate).
func (g *Engine) Forget() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, st := range g.byID {
		st.win, st.windowSig, st.sup = nil, "", nil
	}
	g.applied = nil // the next Evaluate or Warm reconciles: new, empty states
}
