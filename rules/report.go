package rules

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
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
