package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"breachd/api"
	"breachd/auth"
	"breachd/event"
	"breachd/rules"
)

// TestRulesStatus: without a detector in the process the figures are unavailable and the
// answer says where they are; with one, every rule's counters from its engine and the last
// reload with its errors as file, line and column.
func TestRulesStatus(t *testing.T) {
	e := newEnv(t, nil)
	author := principalName(auth.RoleRuleAuthor, bergen)
	type answer struct {
		Available bool   `json:"available"`
		Message   string `json:"message"`
		Rules     []struct {
			Rule                                                  string
			Evaluated, Hits, Excepted, Suppressed, Alerts, Errors uint64
		} `json:"rules"`
		Reload *struct {
			At     time.Time `json:"at"`
			Cause  string    `json:"cause"`
			Result string    `json:"result"`
			Errors []struct {
				File         string
				Line, Column int
			} `json:"errors"`
			Rules int `json:"rules"`
		} `json:"reload"`
	}
	get := func() answer {
		t.Helper()
		resp, b := e.do("GET", "/api/rules/status", author, "")
		var a answer
		if err := json.Unmarshal(b, &a); resp.StatusCode != 200 || err != nil {
			t.Fatalf("rules status: %d %s", resp.StatusCode, b)
		}
		return a
	}
	if a := get(); a.Available || !strings.Contains(a.Message, "/metrics") || a.Reload != nil || a.Rules == nil {
		t.Errorf("without a detector: %+v, want unavailable, naming /metrics, no reload, rules []", a)
	}

	set, err := rules.Parse("login.yaml", []byte(anyLogin))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.NewEngine(set, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, res := range []string{"success", "failure", "success"} {
		ev := &event.Event{Kind: event.KindAuth, ID: string(rune('a' + i)), Time: e.now, Org: bergen, User: accountOf[bergen], Result: res}
		eng.Evaluate(context.Background(), ev)
	}
	at := e.now.Add(-time.Minute)
	_, badErr := rules.Parse("bad.yaml", []byte(strings.Replace(anyLogin, `event.Result == "success"`, `event.Nope ==`, 1)))
	reload := api.RulesReload{At: at, Cause: "file change", Errors: rules.CompileErrors(badErr), Rules: 1}
	if len(reload.Errors) == 0 {
		t.Fatalf("the broken rule compiled: %v", badErr)
	}
	e.serve(func(c *api.Config) {
		c.RulesStatus = func(context.Context) (api.RulesStatus, bool) {
			return api.RulesStatus{Rules: eng.Stats(), Reload: reload}, true
		}
	})
	author = principalName(auth.RoleRuleAuthor, bergen) // the tokens of the new server
	a := get()
	if !a.Available || len(a.Rules) != 1 || a.Reload == nil {
		t.Fatalf("with a detector: %+v", a)
	}
	if r := a.Rules[0]; r.Rule != "any-login" || r.Evaluated != 3 || r.Hits != 2 || r.Alerts+r.Suppressed != 2 || r.Errors != 0 {
		t.Errorf("counters %+v, want any-login evaluated 3, hits 2", r)
	}
	rl := a.Reload
	if !rl.At.Equal(at) || rl.Cause != "file change" || rl.Result != "error" || rl.Rules != 1 || len(rl.Errors) == 0 ||
		rl.Errors[0].File != "bad.yaml" || rl.Errors[0].Line == 0 || rl.Errors[0].Column == 0 {
		t.Errorf("reload %+v, want the failed one with bad.yaml:line:col", rl)
	}
}

// TestRulesListForConsole: the rules list has the CLI's columns and the title and fixture count
// of each rule.
func TestRulesListForConsole(t *testing.T) {
	e := newEnv(t, nil)
	resp, b := e.do("GET", "/api/rules?limit=1000", principalName(auth.RoleRuleAuthor, bergen), "")
	var rows struct {
		Columns []string         `json:"columns"`
		Rows    []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(b, &rows); resp.StatusCode != 200 || err != nil || len(rows.Rows) == 0 {
		t.Fatalf("rules: %d %s", resp.StatusCode, b)
	}
	if want := []string{"ID", "SEVERITY", "WHEN", "RESPOND", "TAGS", "FILE", "TITLE", "TESTS"}; !slices.Equal(rows.Columns, want) {
		t.Errorf("columns %v, want %v", rows.Columns, want)
	}
	for _, r := range rows.Rows {
		if title, _ := r["TITLE"].(string); title == "" || r["TESTS"].(float64) < 1 {
			t.Errorf("rule %v: title %q, %v fixtures; every shipped rule has a title and fixtures", r["ID"], title, r["TESTS"])
		}
	}
}

// ndjsonLines posts body to /api/rules/backtest as principal asking for NDJSON and returns
// the response and its lines, each decoded.
func ndjsonLines(t *testing.T, e *env, principal, body string) (*http.Response, []map[string]json.RawMessage) {
	t.Helper()
	req, err := http.NewRequest("POST", e.http.URL+"/api/rules/backtest", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/x-ndjson, application/json;q=0.5")
	req.Header.Set("Authorization", "Bearer "+e.tokens[principal])
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []map[string]json.RawMessage
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return resp, lines
}

// TestBacktestNDJSON: asked for NDJSON, a backtest streams its progress (each phase ends
// with a done line), then one line with the result: the plain answer's report. A request
// refused before the run is the usual JSON error; a run that fails ends with an error line.
func TestBacktestNDJSON(t *testing.T) {
	e := newEnv(t, nil)
	body, _ := json.Marshal(map[string]any{"from": e.now.Add(-24 * time.Hour).Format(time.RFC3339Nano),
		"to": e.now.Format(time.RFC3339Nano), "rule_text": anyLogin})
	resp, plain := e.do("POST", "/api/rules/backtest", ruleAuthorBergenAdmin, string(body))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("plain backtest: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), plain)
	}
	resp, lines := ndjsonLines(t, e, ruleAuthorBergenAdmin, string(body))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" || len(lines) < 2 {
		t.Fatalf("streamed backtest: %d %s, %d lines", resp.StatusCode, resp.Header.Get("Content-Type"), len(lines))
	}
	phases := map[string]bool{}
	for _, l := range lines[:len(lines)-1] {
		var p struct {
			Phase  string `json:"phase"`
			Events int64  `json:"events"`
			Done   bool   `json:"done"`
		}
		if err := json.Unmarshal(l["progress"], &p); err != nil || p.Phase == "" {
			t.Fatalf("not a progress line: %v %s", err, l)
		}
		if p.Done {
			phases[p.Phase] = true
		}
	}
	if !phases["replay"] {
		t.Errorf("no done line of the replay phase: %v", phases)
	}
	res, ok := lines[len(lines)-1]["result"]
	if !ok {
		t.Fatalf("the last line is no result: %v", lines[len(lines)-1])
	}
	// The same report as the plain answer, but for the run's own duration and rate.
	strip := func(b []byte) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "duration_seconds")
		delete(m, "events_per_second")
		return m
	}
	p, s := strip(plain), strip(res)
	pj, _ := json.Marshal(p)
	sj, _ := json.Marshal(s)
	if !bytes.Equal(pj, sj) || !strings.Contains(string(sj), accountOf[bergen]) || strings.Contains(string(sj), accountOf[oslo]) {
		t.Errorf("streamed result differs from the plain answer, or is not redacted:\n%s\n%s", sj, pj)
	}

	// Refused before the run: the usual error, whatever was asked.
	resp, lines = ndjsonLines(t, e, ruleAuthorBergenAdmin, `{"from":"1d","rules":["no-such-rule"]}`)
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") == "application/x-ndjson" || len(lines) != 1 {
		t.Errorf("a bad request asked for NDJSON: %d %s %v", resp.StatusCode, resp.Header.Get("Content-Type"), lines)
	}

	// A run that fails (its time is up at once) ends with an error line.
	e.serve(func(c *api.Config) { c.BacktestTimeout = time.Nanosecond })
	resp, lines = ndjsonLines(t, e, ruleAuthorBergenAdmin, `{"from":"1d"}`)
	if resp.StatusCode != 200 || len(lines) == 0 {
		t.Fatalf("failing streamed backtest: %d, %d lines", resp.StatusCode, len(lines))
	}
	var fail struct{ Code, Message string }
	if err := json.Unmarshal(lines[len(lines)-1]["error"], &fail); err != nil || fail.Code != "unavailable" || fail.Message == "" {
		t.Errorf("last line %v, want an error line with code unavailable", lines[len(lines)-1])
	}
}
