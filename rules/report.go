package rules

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"breachd/output"
)

// TestReport is the outcome of a run of fixtures (`breachd rules test`), for output.Write: one
// line per fixture and the totals for people, an object with results, passed and failed in
// JSON.
type TestReport struct {
	Results []TestResult
	Failed  int
}

// NewTestReport counts the failures of results.
func NewTestReport(results []TestResult) TestReport {
	r := TestReport{Results: results}
	for i := range results {
		if !results[i].Passed() {
			r.Failed++
		}
	}
	return r
}

// fixtureZone shows fixture alert times in Europe/Oslo, the zone fixture times default to.
var fixtureZone = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		return time.UTC
	}
	return loc
}()

// WriteText writes PASS or FAIL rule/name (file:line) per fixture, for a failure want/got and
// the alerts the rule raised, and "N passed, N failed".
func (t TestReport) WriteText(w io.Writer) error {
	for _, r := range t.Results {
		status := "PASS"
		if !r.Passed() {
			status = "FAIL"
		}
		fmt.Fprintf(w, "%s %s/%s (%s:%d)\n", status, r.Rule, r.Name, r.File, r.Line)
		if r.Passed() {
			continue
		}
		fmt.Fprintf(w, "    want %d alerts, got %d\n", r.Want, r.Got)
		if msg := r.Err.Error(); msg != fmt.Sprintf("want %d alerts, got %d", r.Want, r.Got) {
			fmt.Fprintf(w, "    error: %s\n", msg)
		}
		for _, a := range r.Alerts {
			fmt.Fprintf(w, "    alert on %s at %s: %s\n", a.EventID, a.EventTime.In(fixtureZone).Format(time.RFC3339), a.Summary)
		}
	}
	_, err := fmt.Fprintf(w, "%d passed, %d failed\n", len(t.Results)-t.Failed, t.Failed)
	return err
}

// MarshalJSON writes {"results": [...], "passed": N, "failed": N}.
func (t TestReport) MarshalJSON() ([]byte, error) {
	type alert struct {
		EventID   string    `json:"event_id"`
		EventTime time.Time `json:"event_time"`
		Summary   string    `json:"summary"`
	}
	type result struct {
		File   string  `json:"file"`
		Line   int     `json:"line"`
		Rule   string  `json:"rule"`
		Name   string  `json:"name"`
		Passed bool    `json:"passed"`
		Want   int     `json:"want"`
		Got    int     `json:"got"`
		Error  string  `json:"error,omitempty"`
		Alerts []alert `json:"alerts,omitempty"`
	}
	out := struct {
		Results []result `json:"results"`
		Passed  int      `json:"passed"`
		Failed  int      `json:"failed"`
	}{Results: []result{}, Passed: len(t.Results) - t.Failed, Failed: t.Failed}
	for _, r := range t.Results {
		x := result{File: r.File, Line: r.Line, Rule: r.Rule, Name: r.Name, Passed: r.Passed(), Want: r.Want, Got: r.Got}
		if r.Err != nil {
			x.Error = r.Err.Error()
		}
		for _, a := range r.Alerts {
			x.Alerts = append(x.Alerts, alert{EventID: a.EventID, EventTime: a.EventTime, Summary: a.Summary})
		}
		out.Results = append(out.Results, x)
	}
	return json.Marshal(out)
}

// RunTestsMatching runs the fixtures (RunTests) of the rules whose id match matches; it is an
// error when no rule id matches.
func RunTestsMatching(set *Set, match *regexp.Regexp) (TestReport, error) {
	if !slices.ContainsFunc(set.Rules(), func(r Rule) bool { return match.MatchString(r.ID) }) {
		return TestReport{}, fmt.Errorf("no rule id matches %q", match)
	}
	var results []TestResult
	for _, r := range RunTests(set) {
		if match.MatchString(r.Rule) {
			results = append(results, r)
		}
	}
	return NewTestReport(results), nil
}

// Err is the failure of the run: how many fixtures failed, or nil.
func (t TestReport) Err() error {
	if t.Failed == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d fixtures failed", t.Failed, len(t.Results))
}

// Lint is what `breachd rules lint` says of rules that compile, for output.Write: a warning per
// rule without fixtures and "N rules in M files OK".
type Lint struct {
	Rules []Rule
	Files int
}

// WriteText writes the warnings as file:line:1: rule <id>: warning: ..., then the total.
func (l Lint) WriteText(w io.Writer) error {
	for _, r := range l.Rules {
		if r.Tests == 0 {
			fmt.Fprintf(w, "%s:%d:1: rule %s: warning: no tests (add fixtures under tests:, see docs/rules.md)\n", r.File, r.Line, r.ID)
		}
	}
	_, err := fmt.Fprintf(w, "%d rules in %d files OK\n", len(l.Rules), l.Files)
	return err
}

// Listing is the rules for output.Write (`breachd rules list`): in JSON as they are; in a table
// id, severity, the event kinds it runs on, whether a hit may request deactivation, tags, and
// where it is defined.
type Listing []Rule

// Rows is the table of the rules.
func (l Listing) Rows() *output.Rows {
	t := output.RowsOf([]string{"ID", "SEVERITY", "WHEN", "RESPOND", "TAGS", "FILE"}, l, func(r Rule) []any {
		when := make([]string, len(r.When))
		for i, k := range r.When {
			when[i] = string(k)
		}
		return []any{r.ID, r.Severity, strings.Join(when, ","), map[bool]string{true: "deactivate", false: "none"}[r.Respond],
			strings.Join(r.Tags, ","), fmt.Sprintf("%s:%d", r.File, r.Line)}
	})
	t.Plain = true
	return t
}
