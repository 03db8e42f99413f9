package deploy

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/auth"
	"breachd/event"
	"breachd/rules"
)

// gathered is the value of metric name with labels (name=value pairs) in reg; ok false when
// there is none.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (v float64, ok bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// TestRuleEventsMetric: breach_rules_rule_events_total sums every detector engine of the
// process per rule and outcome, registered once however many detectors add their engine.
func TestRuleEventsMetric(t *testing.T) {
	set, err := rules.Parse("a.yaml", []byte(ruleYAML("r1", `event.Result == "failure"`)))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	now := time.Now()
	for i := range 2 { // two detectors in one process
		eng, err := rules.NewEngine(set, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := watchRuleEvents(reg, eng); err != nil {
			t.Fatalf("detector %d: %v", i, err)
		}
		for j, res := range []string{"failure", "success", "failure"} {
			eng.Evaluate(context.Background(), &event.Event{Kind: event.KindAuth, ID: string(rune('a' + j)), Time: now,
				Org: "o.no", User: "u@o.no", Result: res})
		}
	}
	for outcome, want := range map[string]float64{"evaluated": 6, "hit": 4, "excepted": 0, "error": 0} {
		if v, ok := gathered(t, reg, "breach_rules_rule_events_total", "rule", "r1", "outcome", outcome); !ok || v != want {
			t.Errorf("breach_rules_rule_events_total{rule=r1,outcome=%s} = %v (present %v), want %v", outcome, v, ok, want)
		}
	}
	alerts, _ := gathered(t, reg, "breach_rules_rule_events_total", "outcome", "alert")
	suppressed, _ := gathered(t, reg, "breach_rules_rule_events_total", "outcome", "suppressed")
	if alerts+suppressed != 4 {
		t.Errorf("alerts %v + suppressed %v, want the 4 hits", alerts, suppressed)
	}
}

// TestReloaderStatus: the load at start, a reload that does not compile (its errors with
// file, line and column; the set kept) and one that does are each the last status, and the
// gauges follow.
func TestReloaderStatus(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	writeAtomic(t, a, ruleYAML("r1", `event.Result == "failure"`))
	reg := prometheus.NewRegistry()
	r, err := NewRuleReloader([]string{dir}, ReloaderOptions{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); !st.At.IsZero() {
		t.Errorf("status before the start: %+v", st)
	}
	r.started(1)
	success := func() float64 {
		v, ok := gathered(t, reg, "breach_rules_last_reload_success")
		if !ok {
			t.Fatal("no breach_rules_last_reload_success")
		}
		return v
	}
	if st := r.Status(); !st.OK || st.Cause != "start" || st.Rules != 1 || st.At.IsZero() || success() != 1 {
		t.Errorf("at start: %+v, success %v", st, success())
	}
	if ts, ok := gathered(t, reg, "breach_rules_last_reload_timestamp_seconds"); !ok || ts < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("breach_rules_last_reload_timestamp_seconds = %v, want about now", ts)
	}

	writeAtomic(t, a, ruleYAML("r1", `event.Result ==`))
	r.reload("file change")
	st := r.Status()
	if st.OK || st.Cause != "file change" || st.Rules != 1 || len(st.Errors) == 0 || success() != 0 {
		t.Fatalf("after a bad reload: %+v, success %v", st, success())
	}
	if ce := st.Errors[0]; !strings.HasSuffix(ce.File, "a.yaml") || ce.Line == 0 || ce.Column == 0 {
		t.Errorf("compile error %+v, want a.yaml with line and column", ce)
	}

	writeAtomic(t, filepath.Join(dir, "b.yaml"), ruleYAML("r2", `event.Result == "success"`))
	writeAtomic(t, a, ruleYAML("r1", `event.Result == "failure"`))
	r.reload("signal")
	if st := r.Status(); !st.OK || st.Cause != "signal" || st.Rules != 2 || len(st.Errors) != 0 || success() != 1 {
		t.Errorf("after a good reload: %+v, success %v", st, success())
	}
}

// TestRunServesRuleFigures: a process running the detector and the API answers GET
// /api/rules/status with the detector's rules and its load at start, and its registry has the
// rule metrics.
func TestRunServesRuleFigures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	in, err := StartInfra(ctx, InfraConfig{DataDir: filepath.Join(t.TempDir(), "data"), Logger: quiet})
	if err != nil {
		t.Fatalf("start infra (needs libchdb.so: scripts/setup.sh): %v", err)
	}
	defer in.Close()
	usersFile := filepath.Join(t.TempDir(), "users.json")
	users, err := auth.OpenUsers(usersFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := users.Add("author", []auth.Role{auth.RoleRuleAuthor}, nil, "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	token, _, err := users.IssueToken("author", "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Parse("a.yaml", []byte(ruleYAML("r1", `event.Result == "failure"`)+
		"  - id: r2\n    title: r2\n    severity: low\n    when: [auth]\n    condition: event.Result == \"success\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	reg := prometheus.NewRegistry()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- RunPipeline(rctx, in, PipelineConfig{Stages: []string{StageDetect, StageAPI}, RuleSet: set, Registerer: reg,
			Logger: quiet, API: APIConfig{Listener: ln, UsersFile: usersFile}})
	}()
	getHealthy(t, ctx, url, done)
	req, err := http.NewRequest("GET", url+"/api/rules/status", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Available bool `json:"available"`
		Rules     []struct {
			Rule string `json:"rule"`
		} `json:"rules"`
		Reload struct {
			Cause, Result string
			Rules         int
		} `json:"reload"`
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("rules status: %d %v", resp.StatusCode, err)
	}
	if !st.Available || len(st.Rules) != 2 || st.Rules[0].Rule != "r1" || st.Reload.Cause != "start" || st.Reload.Result != "ok" || st.Reload.Rules != 2 {
		t.Errorf("rules status %+v, want both rules and the load at start", st)
	}
	if v, ok := gathered(t, reg, "breach_rules_rule_events_total", "rule", "r2", "outcome", "evaluated"); !ok || v != 0 {
		t.Errorf("breach_rules_rule_events_total{rule=r2,outcome=evaluated} = %v (present %v), want 0", v, ok)
	}
	if v, ok := gathered(t, reg, "breach_rules_last_reload_success"); !ok || v != 1 {
		t.Errorf("breach_rules_last_reload_success = %v (present %v), want 1", v, ok)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("pipeline: %v", err)
	}
}
