package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"breachd/event"
)

// The crash tests restart `breachd run` after a SIGKILL. A restart can take about 90 s: when
// the input adds nothing new (JetStream drops the copies), the killed detector's batch is the
// only thing to deliver, and it comes again only after its AckWait (detect.Options.FlushTimeout
// + 30 s), since the server pins a detector only with a delivery; the detector then resets its
// durable (detect/pin.go), so the batch is evaluated before anything later. They run in
// parallel, each on its own data directory.

// TestKillMidStreamThenRestart kills `breachd run` with SIGKILL (no graceful shutdown: batches
// may be written to history and not acked, or published and not written) while it ingests a
// simulated day, restarts it on the same data and input, and expects every event in history
// exactly once and nothing lost. Whenever the kill lands, the assertions hold.
func TestKillMidStreamThenRestart(t *testing.T) {
	t.Parallel()
	day, data, want := crashSetup(t)
	cmd := exec.Command(binary, "run", "--data", data, "--metrics-addr", "", day)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(errb.String(), "detector started") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // into the stream
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	restartAndCheck(t, day, data, want)
}

// TestKillBetweenInsertAndAck kills the detector at the worst moment for duplicates: right
// after ClickHouse accepted a batch of events and before any of it was acked (the fault point
// BREACHD_FAULT=kill-after-insert). After the restart the batch comes back; the rows must not
// be stored twice — counted without FINAL — and nothing may be missing.
func TestKillBetweenInsertAndAck(t *testing.T) {
	t.Parallel()
	day, data, want := crashSetup(t)
	cmd := exec.Command(binary, "run", "--data", data, "--metrics-addr", "", day)
	cmd.Env = append(os.Environ(), "BREACHD_FAULT=kill-after-insert")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("breachd with the fault point: %v, want death by SIGKILL\n%s", err, errb.String())
	}
	stored := rowsIn(t, data)
	if stored == 0 {
		t.Fatalf("nothing in history at the kill: the fault point did not fire after an insert\n%s", errb.String())
	}
	t.Logf("%d event rows stored and unacked at the kill", stored)
	restartAndCheck(t, day, data, want)
}

// crashSetup writes a simulated day and returns its path, a data directory and the number of
// events of each kind in it.
func crashSetup(t *testing.T) (day, data string, want map[event.Kind]int) {
	dir := t.TempDir()
	day, data = filepath.Join(dir, "day.jsonl"), filepath.Join(dir, "data")
	if _, errs, code := breachd(t, nil, "simulate", "--seed", "9", "--orgs", "1", "-o", day); code != 0 {
		t.Fatalf("simulate: %s", errs)
	}
	raw, err := os.ReadFile(day)
	if err != nil {
		t.Fatal(err)
	}
	want = map[event.Kind]int{}
	for _, l := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		e, err := event.Parse(l)
		if err != nil {
			t.Fatal(err)
		}
		want[e.Kind]++
	}
	return day, data, want
}

var eventTables = map[event.Kind]string{event.KindAuth: "auth_events", event.KindAccess: "access_events", event.KindDirectory: "directory_events"}

// restartAndCheck runs breachd again on data and day (with flags) until it is idle and expects
// every event in history exactly once: count() and uniqExact(id) without FINAL equal to the
// input's count.
func restartAndCheck(t *testing.T, day, data string, want map[event.Kind]int, flags ...string) {
	args := append([]string{"run", "--exit-when-done", "--data", data, "--metrics-addr", ""}, flags...)
	if out, errs, code := breachd(t, nil, append(args, day)...); code != 0 {
		t.Fatalf("restart: exit %d\n%s\n%s", code, out, errs)
	}
	for kind, table := range eventTables {
		got, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "tsv", "--reason", "crash test",
			"SELECT count() AS n, uniqExact(id) AS ids FROM "+table)
		if code != 0 {
			t.Fatalf("history sql: %s", errs)
		}
		if exp := "n\tids\n" + strconv.Itoa(want[kind]) + "\t" + strconv.Itoa(want[kind]) + "\n"; got != exp {
			t.Errorf("%s after kill and restart (no FINAL): %q, want %q", table, got, exp)
		}
	}
}

// rowsIn counts the event rows in history.
func rowsIn(t *testing.T, data string) int {
	q := "SELECT (SELECT count() FROM auth_events) + (SELECT count() FROM access_events) + (SELECT count() FROM directory_events) AS n"
	got, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "tsv", "--reason", "crash test", q)
	if code != 0 {
		t.Fatalf("history sql: %s", errs)
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(got, "n\n")))
	if err != nil {
		t.Fatalf("history sql: %q: %v", got, err)
	}
	return n
}
