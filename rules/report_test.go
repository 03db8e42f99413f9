package rules

import (
	"regexp"
	"strings"
	"testing"

	"breachd/output"
)

const twoRules = `rules:
  - id: night-login
    title: night
    severity: low
    when: [auth]
    condition: event.Result == "success"
    respond: deactivate
    tags: [a, b]
    tests:
      - name: fires
        events: [{kind: auth, user: a, service: s, result: success}]
        expect: 1
      - name: wrong
        events: [{kind: auth, user: a, service: s, result: failure}]
        expect: 1
  - id: day-login
    title: day
    severity: high
    when: [auth, access]
    condition: false
`

// TestRunTestsMatching: only the fixtures of matching rules run; no match is an error; Err
// counts the failures.
func TestRunTestsMatching(t *testing.T) {
	set := mustParse(t, twoRules)
	rep, err := RunTestsMatching(set, regexp.MustCompile("^night"))
	if err != nil || len(rep.Results) != 2 || rep.Failed != 1 || rep.Err() == nil || rep.Err().Error() != "1 of 2 fixtures failed" {
		t.Fatalf("night: %+v, %v", rep, err)
	}
	if rep, err := RunTestsMatching(set, regexp.MustCompile("^day")); err != nil || len(rep.Results) != 0 || rep.Err() != nil {
		t.Errorf("day (no fixtures): %+v, %v", rep, err)
	}
	if _, err := RunTestsMatching(set, regexp.MustCompile("noon")); err == nil || !strings.Contains(err.Error(), `no rule id matches "noon"`) {
		t.Errorf("no match: %v", err)
	}
}

// TestLintAndListing: the lint text warns of rules without fixtures and counts; the listing's
// table has a row per rule.
func TestLintAndListing(t *testing.T) {
	set := mustParse(t, twoRules)
	var b strings.Builder
	if err := output.Write(&b, output.Table, Lint{Rules: set.Rules(), Files: 1}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.Contains(got, "rule day-login: warning: no tests") || strings.Contains(got, "night-login: warning") ||
		!strings.HasSuffix(got, "2 rules in 1 files OK\n") {
		t.Errorf("lint:\n%s", got)
	}
	b.Reset()
	if err := output.Write(&b, output.CSV, Listing(set.Rules())); err != nil {
		t.Fatal(err)
	}
	want := "ID,SEVERITY,WHEN,RESPOND,TAGS,FILE\nnight-login,low,auth,deactivate,\"a,b\","
	if got := b.String(); !strings.HasPrefix(got, want) || !strings.Contains(got, "\nday-login,high,\"auth,access\",none,,") {
		t.Errorf("listing:\n%s\nwant prefix\n%s", got, want)
	}
}
