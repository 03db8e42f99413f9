package deploy

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/rules"
)

// syncBuffer is a log sink safe for the reloader's goroutine and the test's.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func ruleYAML(id, condition string) string {
	return fmt.Sprintf("rules:\n  - id: %s\n    title: %s\n    severity: low\n    when: [auth]\n    condition: %s\n", id, id, condition)
}

// writeAtomic replaces path as editors do (write elsewhere, rename), so the poller never sees
// a half-written file.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func reloads(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "breach_rules_reloads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no breach_rules_reloads_total{result=%q}", result)
	return 0
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ids(set *rules.Set) string {
	var out []string
	for _, r := range set.Rules() {
		out = append(out, r.ID)
	}
	return strings.Join(out, ",")
}

// startReloader runs a reloader on paths with a fast poll, swapping into eng, until the test
// ends.
func startReloader(t *testing.T, paths []string, eng *rules.Engine) (*RuleReloader, *prometheus.Registry, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	r, err := NewRuleReloader(paths, ReloaderOptions{Interval: 20 * time.Millisecond, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r.Watch(eng)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
	return r, reg, logs
}

func TestRuleReloaderFileChanges(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	writeAtomic(t, a, ruleYAML("r1", `event.Result == "failure"`))
	set, err := rules.LoadPack([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.NewEngine(set, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, reg, logs := startReloader(t, []string{dir}, eng)

	// A new file with a valid rule is picked up.
	writeAtomic(t, b, ruleYAML("r2", `event.Result == "success"`))
	eventually(t, "r2 swapped in", func() bool { return ids(eng.Set()) == "r1,r2" })
	if got := reloads(t, reg, "ok"); got != 1 {
		t.Errorf("reloads ok = %v, want 1", got)
	}

	// A broken file: the old set stays, every error is logged with its position, and counted.
	writeAtomic(t, a, ruleYAML("r1", `event.Result == 1`)+"    bogus: key\n")
	eventually(t, "the error counted", func() bool { return reloads(t, reg, "error") == 1 })
	if got := ids(eng.Set()); got != "r1,r2" {
		t.Errorf("after a bad file the engine has %s, want the old set r1,r2", got)
	}
	out := logs.String()
	for _, want := range []string{"level=ERROR", "pos=" + a + ":6:29", "pos=" + a + ":7:5", `unknown key \"bogus\"`, "keeping the previous set"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	// Not retried while nothing changes.
	time.Sleep(100 * time.Millisecond)
	if got := reloads(t, reg, "error"); got != 1 {
		t.Errorf("reloads error = %v after the files stayed the same, want 1", got)
	}

	// Fixed, with the rule renamed; then a removed file.
	writeAtomic(t, a, ruleYAML("r3", `event.Result == "failure"`))
	eventually(t, "r3 swapped in", func() bool { return ids(eng.Set()) == "r3,r2" })
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	eventually(t, "r2 gone", func() bool { return ids(eng.Set()) == "r3" })
	if got := reloads(t, reg, "ok"); got != 3 {
		t.Errorf("reloads ok = %v, want 3", got)
	}

	// The directory gone: one error, logged once, and the set stays.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the missing directory counted", func() bool { return reloads(t, reg, "error") == 2 })
	time.Sleep(100 * time.Millisecond)
	if got := reloads(t, reg, "error"); got != 2 || ids(eng.Set()) != "r3" {
		t.Errorf("after the directory went: %v errors, set %s; want 2 and r3", got, ids(eng.Set()))
	}
	if !strings.Contains(logs.String(), "no such file or directory") {
		t.Errorf("log lacks the missing directory:\n%s", logs.String())
	}
}

// SIGHUP reloads even when nothing changed. The test calls Trigger, which is what the signal
// handler calls, rather than signalling the test process.
func TestRuleReloaderTrigger(t *testing.T) {
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "a.yml"), ruleYAML("r1", "true"))
	set, err := rules.LoadPack([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.NewEngine(set, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, reg, logs := startReloader(t, []string{dir}, eng)
	r.Trigger()
	eventually(t, "a reload on trigger", func() bool { return reloads(t, reg, "ok") == 1 })
	if eng.Set() == set {
		t.Error("the engine still has the original set object after a reload")
	}
	if !strings.Contains(logs.String(), "cause=signal") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// With the default pack there is nothing to watch: a trigger is logged and changes nothing.
func TestRuleReloaderDefaultPack(t *testing.T) {
	set, err := rules.LoadPack(nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.NewEngine(set, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, reg, logs := startReloader(t, nil, eng)
	r.Trigger()
	eventually(t, "the no-op logged", func() bool { return strings.Contains(logs.String(), "nothing to reload") })
	if eng.Set() != set || reloads(t, reg, "ok") != 0 || reloads(t, reg, "error") != 0 {
		t.Errorf("a trigger with the default pack changed something: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "level=INFO") {
		t.Errorf("want the no-op at Info:\n%s", logs.String())
	}
}

// Several reloaders on one registry (several detectors in a process) share the counter.
func TestRuleReloaderSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewRuleReloader(nil, ReloaderOptions{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewRuleReloader(nil, ReloaderOptions{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if a.reloads != b.reloads {
		t.Error("second reloader registered its own counter")
	}
}
