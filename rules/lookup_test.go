package rules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/event"
)

// fakeLookup serves an in-memory history, records the questions asked and can fail or block.
type fakeLookup struct {
	*memoryHistory
	mu    sync.Mutex
	calls []string // "login user/service/country since before" or "person org/user since before"
	fail  error    // returned by every call when set
	block bool     // wait for the context to end
	ended []error  // why each blocked call ended
}

func newFake(evs ...*event.Event) *fakeLookup {
	f := &fakeLookup{memoryHistory: newMemoryHistory()}
	for _, e := range evs {
		f.add(e)
	}
	return f
}

func (f *fakeLookup) called(what string) error {
	f.mu.Lock()
	f.calls = append(f.calls, what)
	fail, block := f.fail, f.block
	f.mu.Unlock()
	if block {
		return errBlock
	}
	return fail
}

var errBlock = errors.New("block")

func (f *fakeLookup) wait(ctx context.Context) error {
	err := errors.New("fake lookup: the engine gave no deadline")
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(10 * time.Second):
	}
	f.mu.Lock()
	f.ended = append(f.ended, err)
	f.mu.Unlock()
	return err
}

func (f *fakeLookup) LastLogin(ctx context.Context, user, service, country string, since, before time.Time) (time.Time, error) {
	switch err := f.called(fmt.Sprintf("login %s/%s/%s %s %s", user, service, country, since.Format(time.RFC3339), before.Format(time.RFC3339))); {
	case errors.Is(err, errBlock):
		return time.Time{}, f.wait(ctx)
	case err != nil:
		return time.Time{}, err
	}
	return f.memoryHistory.LastLogin(ctx, user, service, country, since, before)
}

func (f *fakeLookup) LastPerson(ctx context.Context, org, user string, since, before time.Time) (event.Event, bool, error) {
	switch err := f.called(fmt.Sprintf("person %s/%s %s %s", org, user, since.Format(time.RFC3339), before.Format(time.RFC3339))); {
	case errors.Is(err, errBlock):
		return event.Event{}, false, f.wait(ctx)
	case err != nil:
		return event.Event{}, false, err
	}
	return f.memoryHistory.LastPerson(ctx, org, user, since, before)
}

func (f *fakeLookup) ncalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// lookupRules fire on: a login (any result) from a country new in 90 days (new-country), a
// login to a service not used in 30 days (first-login), a person whose previous record had
// another NIN (nin-changed).
const lookupRules = `rules:
  - id: new-country
    title: new country
    severity: low
    when: [auth]
    condition: newCountry(event.User, event.Country, 90)
  - id: first-login
    title: first login
    severity: low
    when: [auth]
    condition: firstLogin(event.User, event.Service, 30)
  - id: nin-changed
    title: nin changed
    severity: low
    when: [directory]
    condition: let p = previousPerson(event.User, 400); p.Found && p.NINHash != event.NINHash
    summary: (let p = previousPerson(event.User, 400); p.NINHash + " " + p.Time.Format("2006-01-02") + " " + join(p.Affiliations, ","))
`

func login(id, user, service, country, result string, at time.Duration) *event.Event {
	e := auth(id, user, result, at)
	e.Service, e.Country = service, country
	return e
}

func person(id, user, nin string, at time.Duration) *event.Event {
	return &event.Event{Kind: event.KindDirectory, ID: id, Time: t0.Add(at), Org: "ex.no", Op: event.OpPerson,
		User: user, NINHash: nin, Affiliations: []string{"student"}}
}

func ruleIDs(alerts []event.Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.RuleID)
	}
	return out
}

func statsOf(g *Engine, id string) RuleStats {
	for _, st := range g.Stats() {
		if st.Rule == id {
			return st
		}
	}
	return RuleStats{}
}

const day = 24 * time.Hour

// "before" is the event's own time and "since" is days earlier: replays and backtests ask what
// the live run asked.
func TestLookupPeriodIsBeforeTheEvent(t *testing.T) {
	f := newFake(login("h1", "kari", "lms", "US", "success", -40*day), person("p1", "ola", "h-1", -200*day))
	g := mustEngine(t, mustParse(t, lookupRules), nil, nil, WithLookup(f, LookupConfig{}))
	// US was seen 40 days ago (within 90: not new); lms too (not within 30: a first login).
	if got := ruleIDs(g.Evaluate(context.Background(), login("e1", "kari", "lms", "US", "success", 0))); strings.Join(got, ",") != "first-login" {
		t.Errorf("alerts %v, want first-login", got)
	}
	want := []string{
		"login kari//US " + t0.Add(-90*day).Format(time.RFC3339) + " " + t0.Format(time.RFC3339),
		"login kari/lms/ " + t0.Add(-30*day).Format(time.RFC3339) + " " + t0.Format(time.RFC3339),
	}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("asked\n%s\nwant\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
	alerts := g.Evaluate(context.Background(), person("e2", "ola", "h-2", time.Hour))
	if len(alerts) != 1 || alerts[0].RuleID != "nin-changed" || !strings.HasPrefix(alerts[0].Summary, "h-1 2026-04-16 student") {
		t.Errorf("nin-changed alerts %+v", alerts)
	}
	if last := f.calls[len(f.calls)-1]; last != "person ex.no/ola "+t0.Add(time.Hour-400*day).Format(time.RFC3339)+" "+t0.Add(time.Hour).Format(time.RFC3339) {
		t.Errorf("person lookup asked %q", last)
	}
}

// The cache answers repeated questions, learns from the events evaluated (written through,
// as the detector stores them after evaluation) and asks again only when it must.
func TestLookupCache(t *testing.T) {
	f := newFake(login("h1", "kari", "lms", "US", "success", -10*day))
	set := mustParse(t, `rules:
  - {id: r, title: r, severity: low, when: [auth], condition: 'newCountry(event.User, event.Country, 90)'}
  - {id: short, title: short, severity: low, when: [auth], condition: 'event.Result == "x" && newCountry(event.User, event.Country, 30)'}
`)
	g := mustEngine(t, set, nil, nil, WithLookup(f, LookupConfig{}))
	eval := func(e *event.Event, wantAlert bool, wantCalls int) {
		t.Helper()
		if got := len(g.Evaluate(context.Background(), e)) > 0; got != wantAlert {
			t.Errorf("%s: alert %v, want %v", e.ID, got, wantAlert)
		}
		if n := f.ncalls(); n != wantCalls {
			t.Errorf("%s: %d calls to the history, want %d:\n%s", e.ID, n, wantCalls, strings.Join(f.calls, "\n"))
		}
	}
	eval(login("a1", "kari", "lms", "US", "success", 0), false, 1)                  // found 10 days ago
	eval(login("a2", "kari", "lms", "US", "failure", 30*day), false, 1)             // cached: still within 90 days
	eval(login("a3", "kari", "lms", "US", "failure", 79*day), false, 1)             // the a1 login, written through
	eval(login("b1", "kari", "lms", "CN", "failure", 80*day), true, 2)              // new: asked
	eval(login("b2", "kari", "lms", "CN", "failure", 81*day), true, 2)              // "nothing" cached for a day
	eval(login("b3", "kari", "lms", "CN", "failure", 82*day+time.Second), true, 3)  // past Refresh: asked again
	eval(login("b4", "kari", "lms", "CN", "success", 82*day+time.Hour), true, 3)    // cached; now a login from CN
	eval(login("b5", "kari", "lms", "CN", "failure", 82*day+2*time.Hour), false, 3) // b4 written through
	// Another user, and a failure from a country never asked: one call each.
	eval(login("c1", "per", "lms", "US", "failure", 83*day), true, 4)
	eval(login("c2", "per", "lms", "DE", "failure", 83*day), true, 5)

	// A longer lookback than asked so far is a miss, a shorter one is answered.
	f2 := newFake()
	g = mustEngine(t, mustParse(t, `rules:
  - {id: r30, title: r, severity: low, when: [auth], condition: 'newCountry(event.User, event.Country, 30)'}
  - {id: r90, title: r, severity: low, when: [auth], condition: 'newCountry(event.User, event.Country, 90)'}
  - {id: r31, title: r, severity: low, when: [auth], condition: 'newCountry(event.User, event.Country, 31)'}
`), nil, nil, WithLookup(f2, LookupConfig{}))
	g.Evaluate(context.Background(), login("d1", "kari", "lms", "US", "failure", 0))
	if n := f2.ncalls(); n != 2 {
		t.Errorf("30, 90, 31 days: %d calls, want 2 (30 and 90)", n)
	}
	if st := statsOf(g, "r31"); st.Lookups != 1 || st.LookupErrors != 0 {
		t.Errorf("r31 stats %+v", st)
	}
}

func TestLookupCacheIsBounded(t *testing.T) {
	f := newFake()
	g := mustEngine(t, mustParse(t, lookupRules), nil, nil, WithLookup(f, LookupConfig{Entries: 3}))
	for i := range 5 {
		g.Evaluate(context.Background(), login(fmt.Sprint("e", i), fmt.Sprint("u", i), "lms", "US", "failure", time.Duration(i)*time.Second))
	}
	if n := g.lk.cache.len(); n != 3 {
		t.Errorf("cache holds %d entries, want the bound 3", n)
	}
	before := f.ncalls()
	g.Evaluate(context.Background(), login("again", "u4", "lms", "US", "failure", time.Minute))
	if n := f.ncalls() - before; n != 0 { // u4's two questions are the most recent entries
		t.Errorf("repeating the last questions made %d calls, want 0", n)
	}
	g.Evaluate(context.Background(), login("again0", "u0", "lms", "US", "failure", time.Minute))
	if n := f.ncalls() - before; n != 2 {
		t.Errorf("the evicted questions made %d calls, want 2", n)
	}
}

// A lookup runs under Evaluate's context: when the caller gives up, a blocked history call
// ends then, not at the (here one hour) lookup timeout, and the rule gets the safe default.
func TestLookupEndsWithEvaluateContext(t *testing.T) {
	f := newFake()
	f.block = true
	g := mustEngine(t, mustParse(t, lookupRules), nil, nil, WithLookup(f, LookupConfig{Timeout: time.Hour}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := ruleIDs(g.Evaluate(ctx, login("e1", "kari", "lms", "CN", "failure", 0))); len(got) != 0 {
		t.Errorf("alerts %v from a lookup whose context ended, want none (safe default)", got)
	}
	if n := f.ncalls(); n != 1 || len(f.ended) != 1 || !errors.Is(f.ended[0], context.Canceled) {
		t.Fatalf("%d history calls ended by %v, want 1 ended by the caller's cancellation", n, f.ended)
	}
	if st := statsOf(g, "new-country"); st.LookupErrors != 1 {
		t.Errorf("new-country stats %+v, want its lookup counted as failed", st)
	}
}

// A lookup that does not answer within the timeout gives the safe default, is counted and
// logged once, and stops further calls for the backoff period.
func TestLookupTimeoutAndBackoff(t *testing.T) {
	f := newFake(login("h1", "kari", "lms", "US", "success", -5*day))
	f.block = true
	now := t0
	clock := func() time.Time { return now }
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	g := mustEngine(t, mustParse(t, lookupRules), nil, clock, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		WithLookup(f, LookupConfig{Timeout: 20 * time.Millisecond, Backoff: time.Minute, Registerer: reg}))

	// Failed logins: nothing is written through to the cache, every question goes to the history.
	if got := ruleIDs(g.Evaluate(context.Background(), login("e1", "kari", "lms", "CN", "failure", 0))); len(got) != 0 {
		t.Errorf("alerts %v from lookups that timed out, want none (safe default)", got)
	}
	if n := f.ncalls(); n != 1 {
		t.Errorf("%d calls, want 1: the second rule's lookup must be skipped while backing off", n)
	}
	now = now.Add(30 * time.Second)
	g.Evaluate(context.Background(), login("e2", "kari", "lms", "CN", "failure", time.Second))
	if n := f.ncalls(); n != 1 {
		t.Errorf("%d calls within the backoff, want 1", n)
	}
	for id, want := range map[string]uint64{"new-country": 2, "first-login": 2} {
		if st := statsOf(g, id); st.LookupErrors != want || st.Lookups != want {
			t.Errorf("%s: stats %+v, want %d lookups, all failed", id, st, want)
		}
	}
	if n := strings.Count(logs.String(), "history lookup failed"); n != 1 {
		t.Errorf("logged the failure %d times, want once:\n%s", n, logs.String())
	}
	calls := func(fn, result string) float64 {
		return lookupCalls(t, reg)["function="+fn+",result="+result]
	}
	if calls(fnNewCountry, "timeout") != 1 || calls(fnFirstLogin, "skipped") != 2 || calls(fnNewCountry, "skipped") != 1 {
		t.Errorf("metrics: timeout %v, skipped %v/%v", calls(fnNewCountry, "timeout"), calls(fnFirstLogin, "skipped"), calls(fnNewCountry, "skipped"))
	}

	// After the backoff the history is asked again, and answers.
	now = now.Add(time.Minute)
	f.mu.Lock()
	f.block = false
	f.mu.Unlock()
	if got := ruleIDs(g.Evaluate(context.Background(), login("e3", "kari", "lms", "CN", "failure", 2*time.Second))); strings.Join(got, ",") != "new-country" {
		t.Errorf("after the backoff: alerts %v, want new-country (lms was used 5 days ago)", got)
	}
	if !strings.Contains(logs.String(), "history lookups answer again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
	if got := lookupCalls(t, reg)["function=newCountry,result=history"]; got != 1 {
		t.Errorf("newCountry calls answered by the history = %v, want 1", got)
	}
}

func TestLookupErrorGivesSafeDefaults(t *testing.T) {
	f := newFake()
	f.fail = errors.New("connection refused")
	now := t0
	g := mustEngine(t, mustParse(t, lookupRules+`
  - id: not-new
    title: negated
    severity: low
    when: [auth]
    condition: '!newCountry(event.User, event.Country, 90)'
`), nil, func() time.Time { return now }, WithLookup(f, LookupConfig{}))
	for i := range 3 {
		now = now.Add(time.Hour) // past the backoff: the first lookup of each round asks (and fails) again
		alerts := g.Evaluate(context.Background(), login(fmt.Sprint("a", i), "kari", "lms", "US", "failure", time.Duration(i)*time.Minute))
		alerts = append(alerts, g.Evaluate(context.Background(), person(fmt.Sprint("p", i), fmt.Sprint("ola", i), "h-2", time.Duration(i)*time.Minute))...)
		// The negated rule shows what the safe default is: false, so "!newCountry" is true.
		if got := strings.Join(ruleIDs(alerts), ","); got != "not-new" {
			t.Errorf("alerts %q, want only the negated rule's", got)
		}
	}
	if n := f.ncalls(); n != 3 {
		t.Errorf("%d calls to the history, want 3: one per round, the others skipped while backing off", n)
	}
	for _, id := range []string{"new-country", "first-login", "nin-changed", "not-new"} {
		if st := statsOf(g, id); st.LookupErrors != 3 || st.Lookups != 3 || st.Errors != 0 {
			t.Errorf("%s: stats %+v, want 3 lookups, all failed", id, st)
		}
	}
}

// Rules using lookups load without a Lookup; the functions give their defaults, and each rule
// is logged once.
func TestLookupNotConfigured(t *testing.T) {
	var logs bytes.Buffer
	g := mustEngine(t, mustParse(t, lookupRules), nil, nil, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	for i := range 3 {
		if alerts := g.Evaluate(context.Background(), login(fmt.Sprint(i), "kari", "lms", "US", "success", 0)); len(alerts) != 0 {
			t.Errorf("alerts %v without a lookup", ruleIDs(alerts))
		}
	}
	if st := statsOf(g, "new-country"); st.Lookups != 3 || st.LookupErrors != 3 {
		t.Errorf("stats %+v", st)
	}
	out := logs.String()
	if strings.Count(out, "no lookup is configured") != 2 || !strings.Contains(out, "rule=new-country") || !strings.Contains(out, "rule=first-login") {
		t.Errorf("want one warning per rule:\n%s", out)
	}
}

func TestLookupDaysMustBeALiteral(t *testing.T) {
	for _, tc := range []struct {
		cond string
		col  int // of the days argument in the condition
	}{
		{`newCountry(event.User, event.Country, 0)`, 39},
		{`firstLogin(event.User, event.Service, 401)`, 39},
		{`let d = 30; firstLogin(event.User, event.Service, d)`, 51},
		{`previousPerson(event.User, -1).Found`, 28},
	} {
		_, err := Parse("r.yaml", []byte("rules:\n  - {id: r, title: r, severity: low, when: [auth], condition: '"+tc.cond+"'}\n"))
		ce := firstCompileError(t, err)
		const at = 63 // the condition's first character is in column 64
		if !strings.Contains(ce.Msg, "days must be an integer literal in [1, 400]") || ce.Line != 2 || ce.Column != at+tc.col {
			t.Errorf("%s: %v, want the days argument at line 2 column %d", tc.cond, ce, at+tc.col)
		}
	}
	mustParse(t, "rules:\n  - {id: r, title: r, severity: low, when: [auth], condition: 'newCountry(event.User, event.Country, 3*30)'}\n")
}

// Engines sharing a registerer share the metrics (one detector per partition in a process).
func TestLookupMetricsShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFake()
	set := mustParse(t, lookupRules)
	a := mustEngine(t, set, nil, nil, WithLookup(f, LookupConfig{Registerer: reg}))
	b := mustEngine(t, set, nil, nil, WithLookup(f, LookupConfig{Registerer: reg}))
	a.Evaluate(context.Background(), login("1", "kari", "lms", "US", "failure", 0))
	b.Evaluate(context.Background(), login("2", "per", "lms", "US", "failure", 0))
	if v := lookupCalls(t, reg)["function=newCountry,result=history"]; v != 2 {
		t.Errorf("newCountry history calls = %v over both engines, want 2", v)
	}
}

// For `go test -race`: evaluations with lookups, stats and history writes at once.
func TestLookupConcurrentUse(t *testing.T) {
	f := newFake()
	g := mustEngine(t, mustParse(t, lookupRules), nil, nil, WithLookup(f, LookupConfig{Entries: 50}))
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := range 200 {
				e := login(fmt.Sprint(w, "-", i), fmt.Sprint("u", i%70), "lms", []string{"US", "CN"}[i%2], "success", time.Duration(i)*time.Minute)
				g.Evaluate(context.Background(), e)
				f.add(e)
				g.Evaluate(context.Background(), person(fmt.Sprint("p", w, "-", i), fmt.Sprint("u", i%70), fmt.Sprint("h", i%3), time.Duration(i)*time.Minute))
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			g.Stats()
		}
	})
	wg.Wait()
}

// A fixture's `history:` is served to the rule; its events are strict like the others.
func TestFixtureHistory(t *testing.T) {
	set := mustParse(t, `rules:
  - id: r
    title: r
    severity: low
    when: [auth]
    condition: newCountry(event.User, event.Country, 90)
    tests:
      - name: seen
        history: [{kind: auth, user: a, service: s, result: success, country: US}]
        events: [{kind: auth, user: a, service: s, result: success, country: US}]
        expect: 0
      - name: not seen
        history: [{kind: auth, user: a, service: s, result: failure, country: US}]
        events: [{kind: auth, user: a, service: s, result: success, country: US}]
        expect: 1
`)
	for _, r := range RunTests(set) {
		if !r.Passed() {
			t.Errorf("%s: %v", r.Name, r.Err)
		}
	}
	_, err := Parse("r.yaml", []byte(`rules:
  - id: r
    title: r
    severity: low
    when: [auth]
    condition: "true"
    tests:
      - name: t
        history: [{kind: auth, user: a, service: s, result: success, colour: red}]
        events: [{kind: auth, user: a, service: s, result: success}]
        expect: 1
`))
	if ce := firstCompileError(t, err); !strings.Contains(ce.Msg, `history: unknown event field "colour"`) || ce.Line != 9 {
		t.Errorf("error %v", ce)
	}
}

// lookupCalls gathers breach_rules_lookups_total from reg by "function=…,result=…".
func lookupCalls(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "breach_rules_lookups_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[strings.Join(labels, ",")] = m.GetCounter().GetValue()
		}
	}
	return out
}

// BenchmarkEvaluateDefaultPackLookups is BenchmarkEvaluateDefaultPack with history lookups
// configured (served from memory, so no I/O is timed) and one login in 25 made by a teacher
// from outside the EU/EEA, so staff-login-new-country asks: the first question per teacher
// and country goes to the Lookup, the rest are answered by the cache (written through).
func BenchmarkEvaluateDefaultPackLookups(b *testing.B) {
	set, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	dir, events := benchSchool(b)
	countries := []string{"US", "CN", "TH", "NO"}
	n := 0
	for i := range events {
		if e := &events[i]; e.Kind == event.KindAuth && e.Result == "success" {
			if n++; n%25 == 0 {
				e.User, e.Country = fmt.Sprintf("t%d-%d@ex.no", n%3, n%60), countries[n%len(countries)]
			}
		}
	}
	g := mustEngine(b, set, dir, nil, WithLookup(newMemoryHistory(), LookupConfig{}))
	alerts := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		e := &events[i%len(events)]
		e.Time = t0.Add(time.Duration(i) * 50 * time.Millisecond)
		alerts += len(g.Evaluate(context.Background(), e))
		i++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(i), "cpu-ns/event")
	b.ReportMetric(float64(alerts)/float64(i), "alerts/event")
	var lookups, failed uint64
	for _, st := range g.Stats() {
		lookups, failed = lookups+st.Lookups, failed+st.LookupErrors
	}
	b.ReportMetric(float64(lookups)/float64(i), "lookups/event")
	if failed > 0 {
		b.Fatalf("%d lookups failed", failed)
	}
}
