package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"breachd/rules"
)

func writeRules(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestRulesUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"rules"}, 2, "usage: breachd rules lint|test|list|backtest"},
		{[]string{"rules", "frob"}, 2, `unknown rules command "frob"`},
		{[]string{"rules", "--help"}, 0, "lint → test → backtest → deploy"},
		{[]string{"help", "rules"}, 0, "breachd rules backtest --from T1"},
		{[]string{"rules", "lint", "--help"}, 0, "file:line:col: rule <id>: message"},
		{[]string{"rules", "test", "--help"}, 0, "N passed, N failed"},
		{[]string{"rules", "list", "-h"}, 0, "-json"},
		{[]string{"rules", "backtest", "--help"}, 0, "never writes history"},
		{[]string{"rules", "test", "--run", "("}, 2, "--run"},
		{[]string{"rules", "lint", "--no-such-flag"}, 2, "unknown flag"}, // pflag's wording,
		{[]string{"rules", "backtest"}, 2, "--from is required"},
		{[]string{"rules", "backtest", "--from", "yesterday"}, 2, `"yesterday" is not a time`},
		{[]string{"rules", "backtest", "--from", "2026-11-02", "--format", "xml"}, 2, `"--format" flag: "xml"`},
		{[]string{"rules", "backtest", "--from", "2026-11-03", "--to", "2026-11-02"}, 2, "is not before --to"},
		{[]string{"help"}, 0, "rules"},
	}
	for _, c := range cases {
		out, errs, code := breachd(t, nil, c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("breachd %v: exit %d, output %q; want exit %d containing %q", c.args, code, out+errs, c.code, c.want)
		}
	}
}

func TestRulesLint(t *testing.T) {
	set, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(rules.DefaultFS(), "*.yaml")
	out, errs, code := breachd(t, nil, "rules", "lint")
	if want := fmt.Sprintf("%d rules in %d files OK\n", set.Len(), len(files)); code != 0 || !strings.HasSuffix(out, want) {
		t.Errorf("lint of the pack: exit %d, %q %s; want %q", code, out, errs, want)
	}

	dir := t.TempDir()
	good := writeRules(t, dir, "good.yaml", `rules:
  - id: night-login
    title: Login at night
    severity: medium
    when: [auth]
    condition: event.Result == "success" && localHour() < 5
`)
	out, _, code = breachd(t, nil, "rules", "lint", good)
	if code != 0 || !strings.Contains(out, good+":2:1: rule night-login: warning: no tests") || lastLine(out) != "1 rules in 1 files OK" {
		t.Errorf("lint of a rule without tests: exit %d\n%s", code, out)
	}

	// Errors in two files are all reported, each with its position, in position order.
	writeRules(t, dir, "good.yaml", strings.Replace(mustRead(t, good), "localHour() < 5", "localHour() < 5 && event.Usr != \"\"", 1))
	writeRules(t, dir, "bad.yml", `rules:
  - id: Bad_ID
    title: x
    severity: urgent
    when: [auth]
    condition: event.Records > "5"
`)
	writeRules(t, dir, "notes.txt", "not a rule file: ignored in directories")
	out, errs, code = breachd(t, nil, "rules", "lint", dir)
	bad := filepath.Join(dir, "bad.yml")
	want := []string{
		bad + `:2:9: rule Bad_ID: id "Bad_ID": use lower-case letters`,
		bad + `:4:15: rule Bad_ID: severity: "urgent" is not one of low, medium, high, critical`,
		bad + ":6:30: rule Bad_ID: condition: invalid operation: > (mismatched types int64 and string)",
		good + ":6:70: rule night-login: condition: type event.Event has no field Usr",
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != len(want) || !strings.Contains(errs, "4 errors") {
		t.Fatalf("lint of broken files: exit %d, stderr %q, stdout:\n%s", code, errs, out)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], want[i])
		}
	}

	// A local rule reusing a pack id is an error only with the pack merged in.
	dup := writeRules(t, t.TempDir(), "dup.yaml", `rules:
  - id: credential-stuffing
    title: mine
    severity: low
    when: [auth]
    condition: "true"
    tests: [{name: fires, events: [{kind: auth, user: a, service: s, result: success}], expect: 1}]
`)
	if out, _, code := breachd(t, nil, "rules", "lint", dup); code != 0 {
		t.Errorf("lint of a local rule alone: exit %d\n%s", code, out)
	}
	out, _, code = breachd(t, nil, "rules", "lint", dup, "--with-default")
	if code != 1 || !strings.Contains(out, dup+":2:1: rule credential-stuffing: duplicate rule id (first defined at pack/auth.yaml:") {
		t.Errorf("lint --with-default of a duplicate id: exit %d\n%s", code, out)
	}
	if _, errs, code := breachd(t, nil, "rules", "lint", filepath.Join(dir, "missing.yaml")); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("lint of a missing file: exit %d %s", code, errs)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRulesTest(t *testing.T) {
	set, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	fixtures := 0
	for _, r := range set.Rules() {
		fixtures += r.Tests
	}
	out, errs, code := breachd(t, nil, "rules", "test")
	if want := fmt.Sprintf("%d passed, 0 failed", fixtures); code != 0 || lastLine(out) != want {
		t.Errorf("test of the pack: exit %d, last line %q, want %q\n%s", code, lastLine(out), want, errs)
	}
	if !strings.Contains(out, "PASS credential-stuffing/20 failures then a success (pack/auth.yaml:") {
		t.Errorf("no PASS line of the form PASS rule/name (file:line):\n%s", out)
	}

	path := writeRules(t, t.TempDir(), "local.yaml", `rules:
  - id: night-login
    title: Login at night
    severity: medium
    when: [auth]
    condition: event.Result == "success" && localHour() < 5
    summary: '"night login for " + event.User'
    tests:
      - name: at 03:00
        events: [{kind: auth, user: ola@ex.no, service: lms, result: success, time: "2026-11-03T03:00:00+01:00"}]
        expect: 1
      - name: at 04:00 (wrong expectation)
        events: [{kind: auth, user: ola@ex.no, service: lms, result: success, time: "2026-11-03T04:00:00+01:00"}]
        expect: 0
  - id: other
    title: other
    severity: low
    when: [auth]
    condition: "false"
    tests: [{name: never, events: [{kind: auth, user: a, service: s, result: success}], expect: 0}]
`)
	out, errs, code = breachd(t, nil, "rules", "test", path)
	for _, want := range []string{
		"PASS night-login/at 03:00 (" + path + ":9)\n",
		"FAIL night-login/at 04:00 (wrong expectation) (" + path + ":12)\n    want 0 alerts, got 1\n" +
			"    alert on night-login/t2/1.1 at 2026-11-03T04:00:00+01:00: night login for ola@ex.no\n",
		"PASS other/never (",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != 1 || lastLine(out) != "2 passed, 1 failed" || !strings.Contains(errs, "1 of 3 fixtures failed") {
		t.Errorf("a failing fixture: exit %d, last line %q, stderr %q", code, lastLine(out), errs)
	}

	out, _, code = breachd(t, nil, "rules", "test", "--json", "--run", "^night", path)
	var res struct {
		Results []struct {
			Rule, Name string
			Passed     bool
			Want, Got  int
			Alerts     []struct{ Summary string }
		}
		Passed, Failed int
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if code != 1 || res.Passed != 1 || res.Failed != 1 || len(res.Results) != 2 || res.Results[1].Passed ||
		res.Results[1].Got != 1 || res.Results[1].Alerts[0].Summary != "night login for ola@ex.no" {
		t.Errorf("--json --run ^night: exit %d, %+v", code, res)
	}
	if out, _, code := breachd(t, nil, "rules", "test", "--run", "^other$", path); code != 0 || lastLine(out) != "1 passed, 0 failed" {
		t.Errorf("--run ^other$: exit %d\n%s", code, out)
	}
	if _, errs, code := breachd(t, nil, "rules", "test", "--run", "nomatch", path); code != 1 || !strings.Contains(errs, "no rule id matches") {
		t.Errorf("--run matching nothing: exit %d %s", code, errs)
	}
}

func TestRulesList(t *testing.T) {
	set, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := breachd(t, nil, "rules", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != set.Len()+1 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("rules list: exit %d, %d lines for %d rules\n%s%s", code, len(lines), set.Len(), out, errs)
	}
	for _, want := range []string{"SEVERITY", "WHEN", "RESPOND", "TAGS", "FILE"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header lacks %s: %s", want, lines[0])
		}
	}
	cs := strings.Fields(lines[1])
	if r := set.Rules()[0]; cs[0] != r.ID || cs[1] != string(r.Severity) || cs[3] != map[bool]string{true: "deactivate", false: "none"}[r.Respond] ||
		!strings.HasPrefix(cs[5], r.File+":") {
		t.Errorf("first row %q does not describe %s", lines[1], r.ID)
	}
	out, _, code = breachd(t, nil, "rules", "list", "--json")
	var listed []rules.Rule
	if err := json.Unmarshal([]byte(out), &listed); err != nil || code != 0 || len(listed) != set.Len() {
		t.Errorf("rules list --json: exit %d, %d rules, %v", code, len(listed), err)
	}
}
