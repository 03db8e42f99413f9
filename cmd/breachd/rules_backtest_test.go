package main

import (
	"encoding/csv"
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"breachd/backtest"
	"breachd/simulate"
)

// TestRulesBacktest runs a simulated day through the live pipeline into a data directory, as
// a user would, then backtests the default pack over the stored history: the rules tagged
// with each breach scenario fire for exactly the simulator's breach accounts and no rule
// alerts any other account, the backtest gives the same (rule, account, alerts) as the live
// detector stored, a range after the breaches gives none, and --rule restricts the report.
func TestRulesBacktest(t *testing.T) {
	dir := t.TempDir()
	day, data := filepath.Join(dir, "day.jsonl"), filepath.Join(dir, "data")
	if _, errs, code := breachd(t, nil, "simulate", "--orgs", "1", "-o", day); code != 0 {
		t.Fatalf("simulate: exit %d: %s", code, errs)
	}
	if out, errs, code := breachd(t, nil, "run", "--exit-when-done", "--data", data, "--metrics-addr", "", day); code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errs)
	}
	cfg := simulate.Defaults()
	cfg.Orgs = 1
	gen, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want, breachAccounts := map[string][]string{}, map[string]bool{}
	for _, b := range gen.Breaches() {
		want[b.Scenario] = append(want[b.Scenario], b.Account)
		breachAccounts[b.Account] = true
	}

	backtestJSON := func(args ...string) *backtest.Report {
		t.Helper()
		out, errs, code := breachd(t, nil, append([]string{"rules", "backtest", "--data", data, "--format", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("backtest %v: exit %d\n%s", args, code, errs)
		}
		var rep backtest.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("backtest %v: %v\n%s", args, err, out)
		}
		return &rep
	}
	rep := backtestJSON("--from", "2026-11-02", "--to", "2026-11-03", "--top", "1000")
	tags := map[string][]string{}
	for _, r := range rep.Rules {
		tags[r.Rule] = r.Tags
	}
	got := map[string][]string{}
	var pairs []string
	for _, k := range rep.Top {
		pairs = append(pairs, k.Rule+" "+k.Account+" "+strconv.FormatInt(k.Alerts, 10))
		for _, tag := range tags[k.Rule] {
			if s, ok := strings.CutPrefix(tag, "scenario:"); ok && !slices.Contains(got[s], k.Account) {
				got[s] = append(got[s], k.Account)
			}
		}
		if !breachAccounts[k.Account] {
			t.Errorf("false positive: rule %s alerted %s", k.Rule, k.Account)
		}
	}
	if !maps.EqualFunc(got, want, func(a, b []string) bool {
		return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
	}) {
		t.Errorf("backtest accounts by scenario = %v\nwant the simulator's breaches %v", got, want)
	}
	if rep.Events == 0 || rep.DirectoryEvents == 0 || rep.EventsPerSecond <= 0 {
		t.Errorf("totals: %d events, %d directory events before, %.0f events/s", rep.Events, rep.DirectoryEvents, rep.EventsPerSecond)
	}

	// The live detector stored the same alerts.
	out, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "tsv",
		"SELECT rule_id, account, count() FROM alerts FINAL GROUP BY rule_id, account")
	if code != 0 {
		t.Fatalf("history sql: exit %d %s", code, errs)
	}
	var live []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		live = append(live, strings.ReplaceAll(l, "\t", " "))
	}
	slices.Sort(live)
	slices.Sort(pairs)
	if !slices.Equal(pairs, live) {
		t.Errorf("backtest (rule, account, alerts) = %v\nlive detector stored %v", pairs, live)
	}

	// After the breaches (all over by 09:00), the warm-up reaching back 10 minutes.
	if late := backtestJSON("--from", "2026-11-02T12:00", "--to", "2026-11-03"); late.Alerts != 0 || len(late.Top) != 0 || late.Events == 0 {
		t.Errorf("range after the breaches: %d alerts over %d events: %+v", late.Alerts, late.Events, late.Top)
	}

	// --rule, CSV, and progress lines on request.
	out, errs, code = breachd(t, nil, "rules", "backtest", "--data", data, "--from", "2026-11-02", "--to", "2026-11-03",
		"--rule", "credential-stuffing", "--format", "csv", "--progress")
	if code != 0 {
		t.Fatalf("backtest --rule --format csv: exit %d\n%s", code, errs)
	}
	records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(records) != 3 || records[1][0] != "rule" || records[1][1] != "credential-stuffing" || records[1][4] != "1" ||
		records[2][0] != "key" || records[2][2] != want["credential_stuffing"][0] {
		t.Errorf("csv for --rule credential-stuffing: %v %q", err, records)
	}
	for _, w := range []string{"backtest directory done", "backtest replay done", "events/s"} {
		if !strings.Contains(errs, w) {
			t.Errorf("--progress: stderr lacks %q:\n%s", w, errs)
		}
	}
	out, _, code = breachd(t, nil, "rules", "backtest", "--data", data, "--from", "2026-11-02", "--to", "2026-11-03", "--top", "3")
	for _, w := range []string{"RULE", "Top 3 (rule, account)", "First alerts per rule", "events/s"} {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("table output (exit %d) lacks %q:\n%s", code, w, out)
		}
	}
	if _, errs, code := breachd(t, nil, "rules", "backtest", "--data", data, "--from", "2026-11-02", "--rule", "nope"); code != 1 ||
		!strings.Contains(errs, `no rule "nope"`) {
		t.Errorf("--rule nope: exit %d %s", code, errs)
	}
}
