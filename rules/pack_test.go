package rules

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"breachd/directory"
	"breachd/event"
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
	g := NewEngine(set, dir, nil)
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				e := &event.Event{Kind: event.KindAccess, ID: "e", Time: t0.Add(time.Duration(i) * time.Second), Org: "ex.no",
					Actor: "kari", ActorRole: "teacher", Action: "export", Subject: "ola", Resource: "health", Service: "lms", Records: int64(i * w)}
				g.Evaluate(e)
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
