package rules

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"breachd/directory"
	"breachd/event"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func mustParse(t testing.TB, y string) *Set {
	t.Helper()
	set, err := Parse(t.Name()+".yaml", []byte(y))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return set
}

func auth(id, user, result string, at time.Duration) *event.Event {
	return &event.Event{Kind: event.KindAuth, ID: id, Time: t0.Add(at), Org: "ex.no", User: user, Service: "lms", Result: result, IP: "192.0.2.1"}
}

// probe is a rule that always fires and reports its window as "count/distinct".
const probe = `rules:
  - id: probe
    title: probe
    severity: low
    when: [auth]
    window: {key: event.IP, count_if: event.Result == "failure", distinct: event.User, over: 10m}
    condition: "true"
    summary: string(window.count) + "/" + string(window.distinct)
`

func TestWindow(t *testing.T) {
	type step struct {
		user, result, ip string
		at               time.Duration
		want             string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"counts failures, distinct users", []step{
			{"a", "failure", "ip1", 0, "1/1"}, {"b", "failure", "ip1", time.Minute, "2/2"},
			{"a", "failure", "ip1", 2 * time.Minute, "3/2"}, {"c", "success", "ip1", 3 * time.Minute, "3/2"},
		}},
		{"keys are separate", []step{
			{"a", "failure", "ip1", 0, "1/1"}, {"a", "failure", "ip2", time.Second, "1/1"},
		}},
		{"an event exactly `over` later expires the first", []step{
			{"a", "failure", "ip1", 0, "1/1"}, {"b", "failure", "ip1", 5 * time.Minute, "2/2"},
			{"c", "failure", "ip1", 10 * time.Minute, "2/2"}, {"d", "success", "ip1", 20 * time.Minute, "0/0"},
		}},
		{"empty key is not counted", []step{
			{"a", "failure", "", 0, "0/0"}, {"b", "failure", "", time.Second, "0/0"},
		}},
		{"late event counts what precedes it", []step{
			{"a", "failure", "ip1", 5 * time.Minute, "1/1"}, {"b", "failure", "ip1", 6 * time.Minute, "2/2"},
			{"c", "failure", "ip1", 4 * time.Minute, "1/3"}, {"d", "failure", "ip1", 7 * time.Minute, "4/4"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustEngine(t, mustParse(t, probe), nil, nil)
			for i, s := range tt.steps {
				e := auth(fmt.Sprint(i), s.user, s.result, s.at)
				e.IP = s.ip
				alerts := g.Evaluate(context.Background(), e)
				if len(alerts) != 1 || alerts[0].Summary != s.want {
					t.Fatalf("step %d: alerts %+v, want one with summary %q", i, alerts, s.want)
				}
			}
		})
	}
}

func TestWindowBounds(t *testing.T) {
	g := mustEngine(t, mustParse(t, probe), nil, nil, WithLimits(4, 3))
	for i := range 10 {
		e := auth(fmt.Sprint(i), "u", "failure", time.Duration(i)*time.Second)
		e.IP = fmt.Sprint("ip", i)
		g.Evaluate(context.Background(), e)
	}
	st := g.Stats()[0]
	if st.WindowKeys != 4 || st.Evictions != 6 {
		t.Errorf("after 10 keys with cap 4: keys %d evictions %d, want 4 and 6", st.WindowKeys, st.Evictions)
	}
	var last []event.Alert
	for i := range 10 {
		last = g.Evaluate(context.Background(), auth(fmt.Sprint("s", i), fmt.Sprint("u", i), "failure", time.Minute+time.Duration(i)*time.Second))
	}
	if last[0].Summary != "3/3" {
		t.Errorf("10 events with 3 entries per key: window %s, want 3/3 (saturated)", last[0].Summary)
	}
	// A sweep once the window has passed on event time drops idle keys.
	g.Evaluate(context.Background(), auth("late", "u", "success", time.Hour))
	if st := g.Stats()[0]; st.WindowKeys != 0 {
		t.Errorf("keys after an hour: %d, want 0", st.WindowKeys)
	}
}

func TestSuppressionAndExceptions(t *testing.T) {
	set := mustParse(t, `rules:
  - id: s
    title: s
    severity: high
    when: [auth]
    condition: event.Result == "failure"
    suppress: {key: event.User, for: 1h}
    exceptions: [{field: event.User, values: [svc@ex.no], reason: monitoring account}]
`)
	g := mustEngine(t, set, nil, nil)
	var got []string
	for i, s := range []struct {
		user string
		at   time.Duration
	}{{"a", 0}, {"a", 10 * time.Minute}, {"b", 11 * time.Minute}, {"a", 20 * time.Minute}, {"svc@ex.no", 0}, {"a", 61 * time.Minute}, {"a", 62 * time.Minute}} {
		for _, a := range g.Evaluate(context.Background(), auth(fmt.Sprint(i), s.user, "failure", s.at)) {
			got = append(got, fmt.Sprintf("%s@%s+%d", a.Account, a.EventTime.Sub(t0), a.Suppressed))
		}
	}
	want := "a@0s+0 b@11m0s+0 a@1h1m0s+2"
	if strings.Join(got, " ") != want {
		t.Errorf("alerts %v, want %s", got, want)
	}
	st := g.Stats()[0]
	if st.Hits != 7 || st.Alerts != 3 || st.Suppressed != 3 || st.Excepted != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestAlertFields(t *testing.T) {
	set := mustParse(t, `rules:
  - id: guardian
    title: guardian change
    severity: critical
    tags: [a, b]
    when: [directory, access]
    condition: (event.Op == "guardianship" || event.ActorRole == "guardian") && subject.IsPupil && guardianStatus(event.Account(), subject.User) == "blocked"
    respond: deactivate
`)
	dir := directory.New()
	clock := func() time.Time { return t0.Add(time.Hour) }
	g := mustEngine(t, set, dir, clock)
	for _, e := range []*event.Event{
		{Kind: event.KindDirectory, ID: "d1", Time: t0, Org: "ex.no", Op: event.OpMembership, User: "ola", Group: "g", GoType: "b", Role: "student", Change: "add"},
		{Kind: event.KindDirectory, ID: "d2", Time: t0, Org: "ex.no", Op: event.OpGuardianship, Guardian: "mor", Child: "ola", Status: "blocked"},
	} {
		if err := dir.Apply(e); err != nil {
			t.Fatal(err)
		}
		alerts := g.Evaluate(context.Background(), e)
		if e.ID == "d1" && len(alerts) != 0 {
			t.Fatalf("membership event raised %+v", alerts)
		}
		if e.ID == "d2" {
			want := event.Alert{ID: event.AlertID("guardian", "d2"), RuleID: "guardian", Title: "guardian change", Severity: event.SeverityCritical,
				Tags: []string{"a", "b"}, Org: "ex.no", Account: "mor", Subject: "ola", EventID: "d2", EventKind: event.KindDirectory,
				EventTime: t0, Detected: t0.Add(time.Hour), Summary: "guardian change", Respond: true}
			if len(alerts) != 1 || fmt.Sprint(alerts[0]) != fmt.Sprint(want) {
				t.Fatalf("alerts %+v\nwant %+v", alerts, want)
			}
		}
	}
	access := &event.Event{Kind: event.KindAccess, ID: "x1", Time: t0, Org: "ex.no", Actor: "mor", ActorRole: "guardian", Action: "view", Subject: "ola", Resource: "absence", Service: "lms"}
	a := g.Evaluate(context.Background(), access)
	if len(a) != 1 || a[0].Account != "mor" || a[0].Subject != "ola" || a[0].ID != event.AlertID("guardian", "x1") {
		t.Errorf("access alerts %+v", a)
	}
	if a2 := g.Evaluate(context.Background(), access); len(a2) != 1 || a2[0].ID != a[0].ID {
		t.Errorf("redelivered event: alert ids differ: %+v", a2)
	}
}

func TestRuntimeErrorIsCountedAndLoggedOnce(t *testing.T) {
	set := mustParse(t, `rules:
  - id: bad
    title: bad
    severity: low
    when: [auth]
    condition: event.Affiliations[2] == "x"
  - id: good
    title: good
    severity: low
    when: [auth]
    condition: "true"
`)
	var buf bytes.Buffer
	g := mustEngine(t, set, nil, nil, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	for i := range 3 {
		if alerts := g.Evaluate(context.Background(), auth(fmt.Sprint(i), "a", "failure", 0)); len(alerts) != 1 || alerts[0].RuleID != "good" {
			t.Fatalf("alerts %+v, want only the good rule's", alerts)
		}
	}
	if st := g.Stats()[0]; st.Errors != 3 || st.Alerts != 0 {
		t.Errorf("bad rule stats %+v", st)
	}
	if n := strings.Count(buf.String(), "rule expression failed"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, buf.String())
	}
}

func TestSwapKeepsWindowState(t *testing.T) {
	rule := func(key, cond string) string {
		return fmt.Sprintf(`rules:
  - id: w
    title: w
    severity: low
    when: [auth]
    window: {key: %s, over: 1h}
    condition: %s
    summary: string(window.count)
`, key, cond)
	}
	g := mustEngine(t, mustParse(t, rule("event.User", "true")), nil, nil)
	next := func(want string) {
		t.Helper()
		a := g.Evaluate(context.Background(), auth("x", "a", "failure", time.Minute))
		if len(a) != 1 || a[0].Summary != want {
			t.Fatalf("alerts %+v, want window count %s", a, want)
		}
	}
	next("1")
	next("2")
	g.Swap(mustParse(t, rule("event.User", "window.count > 0"))) // same window, new condition
	next("3")
	g.Swap(mustParse(t, rule("event.Service", "true"))) // another key: fresh state
	next("1")
	g.Swap(mustParse(t, `rules: [{id: other, title: o, severity: low, when: [auth], condition: "false"}]`))
	g.Evaluate(context.Background(), auth("x", "a", "failure", time.Minute))
	g.Swap(mustParse(t, rule("event.Service", "true"))) // the id came back: state was dropped
	next("1")
	if st := g.Stats(); len(st) != 1 || st[0].Rule != "w" || st[0].Alerts != 1 {
		t.Errorf("stats after the id came back: %+v", st)
	}
}

func TestFactsAndRelations(t *testing.T) {
	set := mustParse(t, `rules:
  - id: f
    title: f
    severity: low
    when: [access]
    condition: "true"
    summary: >
      join([string(actor.Known), string(actor.IsFaculty), string(actor.IsContactTeacher), string(actor.FacultyGroups),
        string(subject.IsPupil), string(subject.HasNIN), string(subject.HiddenIdentity), string(subject.Active),
        string(teaches(event.Actor, event.Subject)), string(contactTeacherOf(event.Actor, event.Subject)),
        string(inGroup(event.Actor, "g")), groupRole(event.Subject, "g"), string(localHour()), string(localWeekday())], " ")
`)
	dir := directory.New()
	off := false
	for _, e := range []*event.Event{
		{Kind: event.KindDirectory, ID: "1", Op: event.OpPerson, User: "kari", Affiliations: []string{"faculty", "employee"}},
		{Kind: event.KindDirectory, ID: "2", Op: event.OpPerson, User: "ola", Affiliations: []string{"student"}, NINHash: "h", HiddenIdentity: true, Active: &off},
		{Kind: event.KindDirectory, ID: "3", Op: event.OpMembership, User: "kari", Group: "g", GoType: "b", Role: "faculty", ContactTeacher: true, Change: "add"},
		{Kind: event.KindDirectory, ID: "4", Op: event.OpMembership, User: "ola", Group: "g", GoType: "b", Role: "student", Change: "add"},
	} {
		if err := dir.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	g := mustEngine(t, set, dir, nil)
	e := &event.Event{Kind: event.KindAccess, ID: "a", Time: t0, Org: "ex.no", Actor: "kari", ActorRole: "teacher", Action: "view", Subject: "ola", Resource: "grades", Service: "lms"}
	a := g.Evaluate(context.Background(), e)
	// 09:00 UTC on Monday 2 November is 10:00 in Oslo.
	want := "true true true 1 true true true false true true true student 10 1"
	if len(a) != 1 || a[0].Summary != want {
		t.Errorf("facts %q, want %q", a[0].Summary, want)
	}
}

func TestGuardsOf(t *testing.T) {
	tests := []struct {
		cond  string
		want  string // guards' values, in order
		whole bool
	}{
		{`event.ActorRole == "guardian" && guardianStatus(event.Actor, event.Subject) == "blocked"`, `[[guardian]]`, false},
		{`"export" == event.Action and event.Records >= 500 && event.Resource in ["health", "family"]`, `[[export]]`, false},
		{`event.Action == "export" && event.Resource in ["health", "family"] && event.Records > 1`, `[[export] [health family]]`, false},
		{`event.Action == "export" && event.Resource in ["health", "family"]`, `[[export] [health family]]`, true},
		{`event.Result == "failure"`, `[[failure]]`, true},
		{`event.Records >= 500 && event.Action == "export"`, `[]`, false},     // only leading conjuncts
		{`event.Action == "export" || event.Action == "delete"`, `[]`, false}, // not a conjunction
		{`event.ActorRole not in ["guardian"] && true`, `[]`, false},          // negation
		{`event.Affiliations == nil && event.Op == "person"`, `[]`, false},    // not a string field
		{`event.ActorRole in ["teacher", actor.User] && true`, `[]`, false},   // not all literals
		{`(event.Op == "person" && event.User == "a") && subject.Known`, `[[person] [a]]`, false},
	}
	for _, tt := range tests {
		guards, whole := guardsOf(tt.cond)
		got := [][]string{}
		for _, g := range guards {
			got = append(got, g.values)
		}
		if s := fmt.Sprint(got); s != tt.want || whole != tt.whole {
			t.Errorf("guardsOf(%s) = %s, %v; want %s, %v", tt.cond, s, whole, tt.want, tt.whole)
		}
	}
	for src, want := range map[string]bool{`event.User`: true, `event.Records`: false, `event.User + ""`: false, `actor.User`: false} {
		if got := fieldOf(src) != nil; got != want {
			t.Errorf("fieldOf(%s) fast = %v, want %v", src, got, want)
		}
	}
}

// slow returns a copy of r without the Go fast paths: every expression runs its program.
func slow(r *rule) *rule {
	c := *r
	b := func(x *boolExpr) *boolExpr {
		if x == nil {
			return nil
		}
		return &boolExpr{prog: x.prog}
	}
	s := func(x *stringExpr) *stringExpr {
		if x == nil {
			return nil
		}
		return &stringExpr{prog: x.prog}
	}
	c.cond, c.summary = b(r.cond), s(r.summary)
	if r.window != nil {
		w := *r.window
		w.key, w.countIf, w.distinct = s(w.key), b(w.countIf), s(w.distinct)
		c.window = &w
	}
	if r.suppress != nil {
		c.suppress = &suppressDef{key: s(r.suppress.key), dur: r.suppress.dur}
	}
	c.except = nil
	for _, x := range r.except {
		c.except = append(c.except, exceptionDef{field: s(x.field), values: x.values})
	}
	return &c
}

// The fast paths are an optimisation only: the pack with and without them raises the same
// alerts.
func TestGuardsDoNotChangeResults(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]*rule, len(set.rules))
	for i, r := range set.rules {
		plain[i] = slow(r)
	}
	unguarded, err := newSet(plain)
	if err != nil {
		t.Fatal(err)
	}
	dir, events := benchSchool(t)
	a, b := mustEngine(t, set, dir, nil), mustEngine(t, unguarded, dir, nil)
	hits := 0
	for i := range events {
		x, y := a.Evaluate(context.Background(), &events[i]), b.Evaluate(context.Background(), &events[i])
		if !slices.EqualFunc(x, y, func(p, q event.Alert) bool { return p.ID == q.ID && p.Summary == q.Summary }) {
			t.Fatalf("event %s: guarded %+v, unguarded %+v", events[i].ID, x, y)
		}
		hits += len(x)
	}
	if hits == 0 {
		t.Error("no alerts at all: the comparison proves nothing")
	}
	for _, r := range RunTests(unguarded) {
		if !r.Passed() {
			t.Errorf("without fast paths, %s: %s: %v", r.Rule, r.Name, r.Err)
		}
	}
}

// mustEngine is NewEngine for tests: a failure ends the test.
func mustEngine(tb testing.TB, set *Set, dir *directory.Directory, clock func() time.Time, opts ...Option) *Engine {
	tb.Helper()
	g, err := NewEngine(set, dir, clock, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}
