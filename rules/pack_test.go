package rules

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"breachd/directory"
	"breachd/event"
	"breachd/simulate"
)

// Every shipped rule file compiles on its own, and the pack as a whole.
func TestDefaultPackCompiles(t *testing.T) {
	files, err := fs.Glob(DefaultFS(), "*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped rule files: %v", err)
	}
	total := 0
	for _, f := range files {
		data, err := fs.ReadFile(DefaultFS(), f)
		if err != nil {
			t.Fatal(err)
		}
		set, err := Parse(path.Join("pack", f), data)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		total += set.Len()
	}
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != total {
		t.Errorf("Default() has %d rules, the files %d", set.Len(), total)
	}
}

// Every fixture of every shipped rule passes, and every rule has positive and negative ones.
func TestDefaultPackFixtures(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	pos, neg := map[string]int{}, map[string]int{}
	for _, r := range RunTests(set) {
		if !r.Passed() {
			t.Errorf("%s:%d: rule %s, test %q: %v", r.File, r.Line, r.Rule, r.Name, r.Err)
			for _, a := range r.Alerts {
				t.Logf("  alert on %s: %s", a.EventID, a.Summary)
			}
		}
		if r.Want > 0 {
			pos[r.Rule]++
		} else {
			neg[r.Rule]++
		}
	}
	for _, r := range set.Rules() {
		if pos[r.ID] == 0 || neg[r.ID] == 0 {
			t.Errorf("%s:%d: rule %s needs positive and negative tests (has %d and %d)", r.File, r.Line, r.ID, pos[r.ID], neg[r.ID])
		}
		if r.Description == "" || len(r.Tags) == 0 {
			t.Errorf("rule %s: shipped rules need a description and tags", r.ID)
		}
	}
}

// The pack covers the scenarios the simulator injects, by tag.
func TestDefaultPackCoversScenarios(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, r := range set.Rules() {
		tags = append(tags, r.Tags...)
	}
	for _, s := range []string{"pupil_as_teacher", "blocked_guardian", "teacher_outside_groups", "credential_stuffing", "bulk_export"} {
		if !slices.Contains(tags, "scenario:"+s) {
			t.Errorf("no shipped rule is tagged scenario:%s", s)
		}
	}
}

func TestRunTestsReportsFailures(t *testing.T) {
	set := mustParse(t, `rules:
  - id: r
    title: r
    severity: low
    when: [auth]
    condition: event.Result == "failure" && event.Affiliations[0] == ""
    tests:
      - name: wrong expectation
        events: [{kind: auth, user: a, service: s, result: success}]
        expect: 1
      - name: runtime error
        events: [{kind: auth, user: a, service: s, result: failure}]
        expect: 0
      - name: passes
        events: [{kind: auth, user: a, service: s, result: success}]
        expect: 0
`)
	res := RunTests(set)
	if len(res) != 3 {
		t.Fatalf("results %+v", res)
	}
	if res[0].Passed() || !strings.Contains(res[0].Err.Error(), "want 1 alerts, got 0") || res[0].Line != 8 {
		t.Errorf("wrong expectation: %+v", res[0])
	}
	if res[1].Passed() || !strings.Contains(res[1].Err.Error(), "expression failed") {
		t.Errorf("runtime error: %+v", res[1])
	}
	if !res[2].Passed() {
		t.Errorf("passing test: %v", res[2].Err)
	}
}

// For `go test -race`: evaluation, swaps, stats and directory changes at once.
func TestEngineConcurrentUse(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New()
	g := mustEngine(t, set, dir, nil)
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				e := &event.Event{Kind: event.KindAccess, ID: "e", Time: t0.Add(time.Duration(i) * time.Second), Org: "ex.no",
					Actor: "kari", ActorRole: "teacher", Action: "export", Subject: "ola", Resource: "health", Service: "lms", Records: int64(i * w)}
				g.Evaluate(context.Background(), e)
				_ = dir.Apply(&event.Event{Kind: event.KindDirectory, ID: "d", Op: event.OpMembership, User: "ola", Group: "g",
					GoType: "b", Role: "student", Change: []string{"add", "remove"}[i%2]})
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			g.Swap(set)
			g.Stats()
		}
	}()
	wg.Wait()
}

// TestDefaultPackOnSimulator replays simulated school days through the directory and the whole
// default pack, with history lookups served from the events already evaluated (as the
// detector writes a batch to history after evaluating it): the accounts alerted are exactly
// those of the injected breaches — no rule fires on the simulated legitimate activity, edge
// cases included (two municipalities, a substitute, a principal's overview, a daytime
// export, mistyped passwords). Seven days from a Monday cover a weekend; days 1–5 are the
// same as in a five-day run (each day's activity has its own random stream).
func TestDefaultPackOnSimulator(t *testing.T) {
	week := simulate.Defaults()
	week.Days = 7
	for _, tc := range []struct {
		name string
		cfg  simulate.Config
	}{
		{"demo day", simulate.Defaults()},
		{"week, 2 orgs", week},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.cfg.Days > 1 {
				t.Skip("-short")
			}
			gen, err := simulate.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			set, err := Default()
			if err != nil {
				t.Fatal(err)
			}
			dir, hist := directory.New(), newMemoryHistory()
			eng := mustEngine(t, set, dir, nil, WithLookup(hist, LookupConfig{}))
			alerted := map[string][]string{} // account -> rules
			n := 0
			err = gen.Run(context.Background(), func(e *event.Event) error {
				n++
				if err := dir.Apply(e); err != nil {
					return fmt.Errorf("event %s: %w", e.ID, err)
				}
				for _, a := range eng.Evaluate(context.Background(), e) {
					if !slices.Contains(alerted[a.Account], a.RuleID) {
						alerted[a.Account] = append(alerted[a.Account], a.RuleID)
					}
				}
				hist.add(e)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for _, b := range gen.Breaches() {
				want[b.Account] = b.Scenario
			}
			if len(want) != 5 {
				t.Fatalf("the simulator injected breaches for %d accounts, want 5", len(want))
			}
			edges := map[string]string{}
			for _, ec := range gen.EdgeCases() {
				edges[ec.Account] = ec.Case
			}
			for _, acct := range slices.Sorted(maps.Keys(alerted)) {
				if _, ok := want[acct]; !ok {
					t.Errorf("false positive: %s alerted by %v (edge case %q)", acct, alerted[acct], edges[acct])
				}
			}
			for acct, scenario := range want {
				if len(alerted[acct]) == 0 {
					t.Errorf("missed breach %s: no alert for %s", scenario, acct)
				}
			}
			var lookups uint64
			for _, st := range eng.Stats() {
				if st.Errors > 0 || st.LookupErrors > 0 {
					t.Errorf("rule %s: %d expression and %d lookup failures", st.Rule, st.Errors, st.LookupErrors)
				}
				lookups += st.Lookups
			}
			if lookups == 0 {
				t.Error("no rule asked the history: the lookup rules were not exercised")
			}
			t.Logf("%d events, %d lookups, alerts by account: %v", n, lookups, alerted)
		})
	}
}
