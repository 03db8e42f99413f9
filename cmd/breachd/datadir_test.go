package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startService runs `breachd run` without input (a service waiting for events) on data, with
// extra flags, until it prints its banner (after the migrations), and returns the process and
// its stderr. Cleanup stops it with SIGINT and expects a clean exit.
func startService(t *testing.T, data string, extra ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd, _, errb, _ := startRun(t, "breachd is running", time.Minute, append([]string{"run", "--data", data}, extra...)...)
	return cmd, errb
}

// TestSecondRunOnOneDataDir: a second `breachd run` on the data directory of a running one —
// even after the ClickHouse engine's own lock file was deleted, which used to let both run and
// the second remove the first one's endpoint file on exit — fails at once, naming the first
// one's pid, before it opens NATS or ClickHouse. The first keeps serving; `breachd history`
// reaches it through its endpoint while it runs and opens the directory itself once it stopped.
func TestSecondRunOnOneDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	first, _ := startService(t, data, "--metrics-addr", "")
	endpoint := filepath.Join(data, "clickhouse-endpoint.json")
	before, err := os.ReadFile(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(data, "clickhouse", "status")); err != nil {
		t.Fatalf("remove the engine's lock file: %v", err)
	}
	// With input that ends, so that a second instance that did start would also exit (and
	// clean up) on its own.
	out, errs, code := breachd(t, nil, "run", "--demo", "--exit-when-done", "--data", data, "--metrics-addr", "")
	want := fmt.Sprintf("data directory %s is in use by pid %d", data, first.Process.Pid)
	if code != 1 || !strings.Contains(errs, want) {
		t.Fatalf("second run: exit %d, want 1 with %q\nstdout:\n%s\nstderr:\n%s", code, want, out, errs)
	}
	for _, started := range []string{"embedded nats started", "embedded clickhouse engine serving", "Where to look"} {
		if strings.Contains(out+errs, started) {
			t.Errorf("the second run got as far as %q before failing:\n%s", started, errs)
		}
	}
	if after, err := os.ReadFile(endpoint); err != nil || !bytes.Equal(after, before) {
		t.Fatalf("the first instance's endpoint file after the second run: %q, %v", after, err)
	}
	// The running instance answers through its endpoint.
	if got, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "tsv", "SELECT 1 AS one"); code != 0 || got != "one\n1\n" {
		t.Fatalf("history sql beside the running instance: exit %d, %q\n%s", code, got, errs)
	}
	if err := first.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(endpoint); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first instance did not stop")
		}
	}
	// Stopped: the history command takes the lock and opens the engines itself.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		got, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "tsv", "SELECT 1 AS one")
		if code == 0 && got == "one\n1\n" {
			break
		}
		if time.Now().After(deadline) || !strings.Contains(errs, "is in use by pid") { // only the exit may still be under way
			t.Fatalf("history sql after the instance stopped: exit %d, %q\n%s", code, got, errs)
		}
	}
}
