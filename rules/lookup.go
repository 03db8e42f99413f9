package rules

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/event"
)

// Lookup answers rules' questions about the past from the history store (history.Store
// implements it over ClickHouse). The engine calls it from Evaluate, one call at a time per
// engine, with Evaluate's context bounded by LookupConfig.Timeout; several engines may call
// one Lookup concurrently. Periods are half-open, [since, before): the engine passes the evaluated
// event's own time as before, so the event itself — and anything after it, in a replay of
// stored events — is never part of an answer. An error means "unknown"; the engine then gives
// the rule a safe default and counts it, it never retries within the call.
type Lookup interface {
	// LastLogin returns the time of user's latest successful login in [since, before), to
	// service when service is not empty and from country when country is not empty; the zero
	// time when there is none.
	LastLogin(ctx context.Context, user, service, country string, since, before time.Time) (time.Time, error)
	// LastPerson returns the latest directory `person` event of user in realm org in
	// [since, before); ok is false when there is none.
	LastPerson(ctx context.Context, org, user string, since, before time.Time) (p event.Event, ok bool, err error)
}

// MaxLookbackDays bounds the `days` of a lookup function: the default retention of history.
const MaxLookbackDays = 400

// Defaults of LookupConfig.
const (
	DefaultLookupTimeout = 200 * time.Millisecond
	DefaultLookupBackoff = 10 * time.Second
	DefaultLookupEntries = 50_000
	DefaultLookupRefresh = 24 * time.Hour
)

// LookupConfig tunes history lookups; zero fields take the defaults above.
type LookupConfig struct {
	// Timeout bounds one call to the Lookup. On timeout the function gives its safe default.
	Timeout time.Duration
	// Backoff: after a failed call (error or timeout) lookups are not attempted for this long
	// (on the engine's clock) and give their safe default at once, so a slow or unreachable
	// history costs the detector at most one Timeout per Backoff.
	Backoff time.Duration
	// Entries bounds the cache (least recently used entries are dropped first).
	Entries int
	// Refresh bounds, in event time, how long a cached "nothing found" is trusted: after it
	// the history is asked again (events the engine did not see — a late arrival, another
	// detector's — become visible then). Answers that found something need no refresh.
	Refresh time.Duration
	// Registerer receives the lookup metrics (nil: not registered). Engines sharing a
	// registerer share the metrics.
	Registerer prometheus.Registerer
}

// WithLookup lets rules use the history lookup functions (newCountry, firstLogin,
// previousPerson) through l, with a cache and a hard timeout per call (see LookupConfig).
// Without it those functions evaluate to their safe defaults and each rule using them is
// logged once (Warn) and counted in RuleStats.LookupErrors.
func WithLookup(l Lookup, cfg LookupConfig) Option {
	return func(g *Engine) error {
		if l == nil {
			return nil
		}
		// A field not above zero takes its default.
		cfg.Timeout = cmp.Or(max(cfg.Timeout, 0), DefaultLookupTimeout)
		cfg.Backoff = cmp.Or(max(cfg.Backoff, 0), DefaultLookupBackoff)
		cfg.Entries = cmp.Or(max(cfg.Entries, 0), DefaultLookupEntries)
		cfg.Refresh = cmp.Or(max(cfg.Refresh, 0), DefaultLookupRefresh)
		m, err := newLookupMetrics(cfg.Registerer)
		if err != nil {
			return fmt.Errorf("rules: lookup metrics: %w", err)
		}
		g.lk.src, g.lk.cfg, g.lk.metrics = l, cfg, m
		g.lk.cache = newLookupCache(cfg.Entries)
		return nil
	}
}

// lookups is an Engine's lookup state. Only Evaluate's goroutine (under Engine.mu) uses it.
type lookups struct {
	src     Lookup // nil: no lookups configured
	cfg     LookupConfig
	cache   *lookupCache
	metrics *lookupMetrics
	st      *ruleState // the rule being evaluated, for its stats

	used      [numShapes]bool // key shapes asked for so far: only those are written through
	openUntil time.Time       // no calls before this (engine clock) after a failure
	failing   bool            // the last call failed (logged once per change)
	warned    map[string]bool // rules warned that no Lookup is configured
}

// The lookup functions, for metrics and logs.
const (
	fnNewCountry     = "newCountry"
	fnFirstLogin     = "firstLogin"
	fnPreviousPerson = "previousPerson"
)

// lookupDaysArg is the index of the `days` argument of each lookup function in a compiled
// program, where the context the compiler passes first (Env.Ctx) counts.
var lookupDaysArg = map[string]int{fnNewCountry: 3, fnFirstLogin: 3, fnPreviousPerson: 2}

// bindLookups puts the lookup functions into g's environment.
func (g *Engine) bindLookups() {
	g.env.NewCountry = func(ctx context.Context, user, country string, days int) bool {
		if user == "" || country == "" {
			return false
		}
		a, ok := g.lookup(ctx, fnNewCountry, lookupKey{shape: shapeCountry, a: user, c: country}, days)
		return ok && !a.found
	}
	g.env.FirstLogin = func(ctx context.Context, user, service string, days int) bool {
		if user == "" {
			return false
		}
		sh := shapeService
		if service == "" {
			sh = shapeAnyLogin
		}
		a, ok := g.lookup(ctx, fnFirstLogin, lookupKey{shape: sh, a: user, b: service}, days)
		return ok && !a.found
	}
	g.env.PreviousPerson = func(ctx context.Context, user string, days int) PriorPerson {
		if user == "" || g.env.Event == nil {
			return PriorPerson{}
		}
		a, ok := g.lookup(ctx, fnPreviousPerson, lookupKey{shape: shapePerson, a: g.env.Event.Org, b: user}, days)
		if !ok || !a.found {
			return PriorPerson{}
		}
		return a.person
	}
}

// lookup answers one question about the days before the current event: from the cache, else
// from the Lookup within the timeout and ctx (Evaluate's). ok is false when it could not be
// answered.
func (g *Engine) lookup(ctx context.Context, fn string, k lookupKey, days int) (lookupAnswer, bool) {
	l, e, st := &g.lk, g.env.Event, g.lk.st
	if st != nil {
		st.stats.Lookups++
	}
	if e == nil {
		return lookupAnswer{}, false
	}
	if days < 1 || days > MaxLookbackDays { // literals are checked at compile time
		g.lookupFailed(fn, "invalid", fmt.Errorf("%s: days %d outside [1, %d]", fn, days, MaxLookbackDays))
		return lookupAnswer{}, false
	}
	if l.src == nil {
		g.lookupFailed(fn, "unconfigured", nil)
		return lookupAnswer{}, false
	}
	before := e.Time
	since := before.Add(-time.Duration(days) * 24 * time.Hour)
	l.used[k.shape] = true
	ent := l.cache.get(k)
	if ent != nil {
		if a, ok := ent.answer(since, before, l.cfg.Refresh); ok {
			l.metrics.calls.WithLabelValues(fn, "cached").Inc()
			return a, true
		}
	}
	if now := g.clock(); now.Before(l.openUntil) {
		g.lookupFailed(fn, "skipped", nil)
		return lookupAnswer{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	start := time.Now()
	a, err := ask(ctx, l.src, k, since, before)
	cancel()
	l.metrics.seconds.Observe(time.Since(start).Seconds())
	if err != nil {
		l.openUntil = g.clock().Add(l.cfg.Backoff)
		result := "error"
		if errors.Is(err, context.DeadlineExceeded) {
			result = "timeout"
		}
		g.lookupFailed(fn, result, err)
		return lookupAnswer{}, false
	}
	if l.failing {
		l.failing = false
		g.log.Info("history lookups answer again", "function", fn)
	}
	l.metrics.calls.WithLabelValues(fn, "history").Inc()
	if ent == nil {
		ent = l.cache.add(k)
	}
	ent.asked(since, before, a)
	return a, true
}

// ask puts the question of key k to src.
func ask(ctx context.Context, src Lookup, k lookupKey, since, before time.Time) (lookupAnswer, error) {
	if k.shape == shapePerson {
		p, ok, err := src.LastPerson(ctx, k.a, k.b, since, before)
		if err != nil || !ok {
			return lookupAnswer{}, err
		}
		return lookupAnswer{found: true, at: p.Time, person: priorOf(&p)}, nil
	}
	t, err := src.LastLogin(ctx, k.a, k.b, k.c, since, before)
	if err != nil || t.IsZero() {
		return lookupAnswer{}, err
	}
	return lookupAnswer{found: true, at: t}, nil
}

// lookupFailed counts a lookup that gave the safe default. result is the metric label.
func (g *Engine) lookupFailed(fn, result string, err error) {
	l := &g.lk
	rule := ""
	if l.st != nil {
		l.st.stats.LookupErrors++
		rule = l.st.stats.Rule
	}
	switch result {
	case "unconfigured":
		if l.warned == nil {
			l.warned = make(map[string]bool)
		}
		if !l.warned[rule] {
			l.warned[rule] = true
			g.log.Warn("rule uses a history lookup but no lookup is configured; it evaluates to its safe default",
				"rule", rule, "function", fn)
		}
		return
	case "skipped", "invalid":
	default:
		if !l.failing {
			l.failing = true
			g.log.Warn("history lookup failed; lookups give safe defaults for a while", "rule", rule, "function", fn,
				"result", result, "backoff", l.cfg.Backoff, "err", err)
		}
	}
	if l.metrics != nil { // nil without a configured lookup
		l.metrics.calls.WithLabelValues(fn, result).Inc()
	}
}

// observeLookups writes the evaluated event through into the cache: the detector stores it in
// history after evaluating it, so later events must see it although history does not have it
// yet. Only the key shapes rules have asked for are written.
func (g *Engine) observeLookups(e *event.Event) {
	l := &g.lk
	if l.cache == nil {
		return
	}
	switch {
	case e.Kind == event.KindAuth && e.Result == "success" && e.User != "":
		if l.used[shapeCountry] && e.Country != "" {
			l.cache.record(lookupKey{shape: shapeCountry, a: e.User, c: e.Country}, lookupAnswer{found: true, at: e.Time})
		}
		if l.used[shapeService] && e.Service != "" {
			l.cache.record(lookupKey{shape: shapeService, a: e.User, b: e.Service}, lookupAnswer{found: true, at: e.Time})
		}
		if l.used[shapeAnyLogin] {
			l.cache.record(lookupKey{shape: shapeAnyLogin, a: e.User}, lookupAnswer{found: true, at: e.Time})
		}
	case e.Kind == event.KindDirectory && e.Op == event.OpPerson && l.used[shapePerson] && e.User != "":
		l.cache.record(lookupKey{shape: shapePerson, a: e.Org, b: e.User},
			lookupAnswer{found: true, at: e.Time, person: priorOf(e)})
	}
}

// priorOf flattens a stored person event for rules.
func priorOf(p *event.Event) PriorPerson {
	return PriorPerson{Found: true, Time: p.Time, NINHash: p.NINHash, HasNIN: p.NINHash != "",
		HiddenIdentity: p.HiddenIdentity, Affiliations: p.Affiliations, Active: p.IsActive()}
}

// checkLookupArgs requires the `days` argument of every lookup call in prog to be an integer
// literal in [1, MaxLookbackDays] (constant arithmetic is folded before), so that every lookup
// is bounded in time and its cost is visible in the rule. The error is positioned at the
// argument.
func checkLookupArgs(prog *vm.Program) error {
	if prog == nil {
		return nil
	}
	var bad *file.Error
	ast.Find(prog.Node(), func(n ast.Node) bool {
		c, ok := n.(*ast.CallNode)
		if !ok {
			return false
		}
		id, ok := c.Callee.(*ast.IdentifierNode)
		if !ok {
			return false
		}
		i, ok := lookupDaysArg[id.Value]
		if !ok || i >= len(c.Arguments) {
			return false
		}
		arg := c.Arguments[i]
		if lit, ok := arg.(*ast.IntegerNode); ok && lit.Value >= 1 && lit.Value <= MaxLookbackDays {
			return false
		}
		bad = &file.Error{Location: arg.Location(),
			Message: fmt.Sprintf("%s: days must be an integer literal in [1, %d]", id.Value, MaxLookbackDays)}
		return true
	})
	if bad == nil {
		return nil
	}
	return bad
}
