package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"breachd/event"
)

// The tests run the real binary, as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "breachd-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "breachd")
	// breachd run serves the API on 127.0.0.1:8080 by default: tests take a free port each.
	os.Setenv("BREACHD_LISTEN", "127.0.0.1:0")
	build := exec.Command("go", "build", "-tags", "faults", "-o", binary, ".") // faults.go: the crash tests' fault point
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// breachd runs the binary and returns stdout, stderr and the exit code.
func breachd(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if strings.Contains(errb.String(), "Permissions Violation") { // a role lacks a subject the command needs
		t.Errorf("breachd %v was refused by NATS:\n%s", args, errb.String())
	}
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("breachd %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func TestHelpAndUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string // in stdout+stderr
	}{
		{nil, 0, "Commands:"},
		{[]string{"help"}, 0, "breachd run --demo"},
		{[]string{"run", "--help"}, 0, "-exit-when-done"},
		{[]string{"run", "--help"}, 0, "-max-future-skew"},
		{[]string{"run", "--max-future-skew", "-1h"}, 2, "--max-future-skew: -1h0m0s is negative"},
		{[]string{"run", "--detect-batch", "0"}, 2, "--detect-batch 0: want at least 1 event"},
		{[]string{"run", "--directory-horizon", "-1h"}, 2, "--directory-horizon -1h0m0s: want a duration of 0"},
		{[]string{"detect", "--nats", "nats://127.0.0.1:1", "--clickhouse", "clickhouse://127.0.0.1:1", "--detect-wait", "0s"}, 2, "--detect-wait 0s: want a positive duration"},
		{[]string{"help", "simulate"}, 0, "--seed"},
		{[]string{"history", "--help"}, 0, "read-only"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"run", "--no-such-flag"}, 2, "unknown flag"}, // pflag's wording,
		{[]string{"run", "--demo", "x.jsonl"}, 2, "exclude each other"},
		{[]string{"history", "select 1"}, 2, "usage: breachd history sql|logins|access|subject|timeline"},
		{[]string{"version"}, 0, "breachd "},
		{[]string{"completion", "bash"}, 0, "bash completion"},
		// The old spelling of --input-format still reaches it, with a deprecation note.
		{[]string{"run", "--format", "syslog"}, 2, "Flag --format has been deprecated, use --input-format"},
		{[]string{"run", "--format", "syslog"}, 2, `--input-format: unknown log format "syslog"`},
		{[]string{"run", "--input-format", "syslog"}, 2, `--input-format: unknown log format "syslog"`},
	}
	for _, c := range cases {
		out, errs, code := breachd(t, nil, c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("breachd %v: exit %d, output %q; want exit %d containing %q", c.args, code, out+errs, c.code, c.want)
		}
	}
}

func TestSimulateDeterministic(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	for _, run := range [][]string{{"--seed", "3", "-o", a}, {"--seed", "3", "-o", b}, {"--seed", "4", "-o", c}} {
		if _, errs, code := breachd(t, nil, append([]string{"simulate", "--orgs", "1", "--classes", "2"}, run...)...); code != 0 {
			t.Fatalf("simulate %v: exit %d: %s", run, code, errs)
		}
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	dc, _ := os.ReadFile(c)
	if !bytes.Equal(da, db) {
		t.Error("the same seed gave different output")
	}
	if bytes.Equal(da, dc) {
		t.Error("different seeds gave the same output")
	}
	lines := bytes.Split(bytes.TrimSpace(da), []byte("\n"))
	for i, l := range lines {
		if _, err := event.Parse(l); err != nil {
			t.Fatalf("line %d is not a canonical event: %v", i+1, err)
		}
	}
	if len(lines) < 1000 {
		t.Errorf("only %d events", len(lines))
	}
}

// TestRunDemo is the user's first command: the demo opens an incident per injected breach and
// the history is queryable afterwards.
func TestRunDemo(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	out, errs, code := breachd(t, nil, "run", "--demo", "--exit-when-done", "--data", data, "--metrics-addr", "")
	if code != 0 {
		t.Fatalf("run --demo: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{"Where to look", "ClickHouse", "Input processed"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	opened := strings.Count(out, " opened ")
	if opened != 5 {
		t.Errorf("demo opened %d incidents, want one per injected breach (5):\n%s", opened, out)
	}
	if _, err := os.Stat(filepath.Join(data, "clickhouse-endpoint.json")); !os.IsNotExist(err) {
		t.Errorf("endpoint file left behind after exit: %v", err)
	}

	// Not running any more: history sql opens the embedded engine's data directly.
	got, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "tsv", "SELECT count() AS n FROM incidents FINAL")
	if code != 0 || got != "n\n5\n" {
		t.Errorf("history sql: exit %d, %q %s", code, got, errs)
	}
	got, errs, code = breachd(t, nil, "migrate", "--data", data)
	if code != 0 || got != "applied 0 migrations; the schema is up to date\n" {
		t.Errorf("migrate on a migrated history: exit %d, %q %s", code, got, errs)
	}
	_, errs, code = breachd(t, nil, "history", "sql", "--data", data, "DROP TABLE incidents")
	if code != 1 || !strings.Contains(errs, "read-only") {
		t.Errorf("history sql DROP: exit %d, %s", code, errs)
	}
}

// TestRunStdin feeds canonical JSON Lines on stdin, including a bad line.
func TestRunStdin(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	in := `{"kind":"directory","id":"d1","time":"2026-11-01T22:00:00Z","org":"o.no","op":"guardianship","guardian":"g@o.no","child":"c@o.no","status":"blocked"}
not an event
{"kind":"access","id":"x1","time":"2026-11-02T18:00:00+01:00","org":"o.no","actor":"g@o.no","actor_role":"guardian","action":"view","subject":"c@o.no","resource":"absence","service":"https://sas"}
`
	out, errs, code := breachd(t, []byte(in), "run", "--exit-when-done", "--data", data, "--metrics-addr", "", "-")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "guardian-blocked-access") || !strings.Contains(out, "1 access and 1 directory events") {
		t.Errorf("output:\n%s", out)
	}
}

// TestRunStopsOnSIGINT runs the service until a signal, as an operator would stop it: it exits
// 0 after the stages stopped, and removes the endpoint file.
func TestRunStopsOnSIGINT(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(binary, "run", "--demo", "--demo-rate", "3000", "--data", data, "--metrics-addr", "")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	endpoint := filepath.Join(data, "clickhouse-endpoint.json")
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(endpoint); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("endpoint file never appeared\n%s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // let events flow, so batches are in hand
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\n%s", err, errb.String())
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("did not stop after SIGINT\n%s", errb.String())
	}
	for _, want := range []string{"detector stopped", "notifier stopped"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, errb.String())
		}
	}
	if _, err := os.Stat(endpoint); !os.IsNotExist(err) {
		t.Errorf("endpoint file left behind: %v", err)
	}
}
