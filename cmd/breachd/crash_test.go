package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"breachd/event"
)

// TestKillMidStreamThenRestart kills `breachd run` with SIGKILL (no graceful shutdown: batches
// may be written to history and not acked, or published and not written) while it ingests a
// simulated day, restarts it on the same data and input, and expects every event in history
// exactly once (read with FINAL, as every query does) and nothing lost. Whenever the kill
// lands, the assertions hold. The restart takes about 90 s: the killed detector's batch is
// redelivered only after its AckWait (detect.Options.FlushTimeout + 30 s).
func TestKillMidStreamThenRestart(t *testing.T) {
	dir := t.TempDir()
	day, data := filepath.Join(dir, "day.jsonl"), filepath.Join(dir, "data")
	if _, errs, code := breachd(t, nil, "simulate", "--seed", "9", "--orgs", "1", "-o", day); code != 0 {
		t.Fatalf("simulate: %s", errs)
	}
	raw, err := os.ReadFile(day)
	if err != nil {
		t.Fatal(err)
	}
	want := map[event.Kind]int{}
	for _, l := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		e, err := event.Parse(l)
		if err != nil {
			t.Fatal(err)
		}
		want[e.Kind]++
	}

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

	if out, errs, code := breachd(t, nil, "run", "--exit-when-done", "--data", data, "--metrics-addr", "", day); code != 0 {
		t.Fatalf("restart: exit %d\n%s\n%s", code, out, errs)
	}
	for kind, table := range map[event.Kind]string{event.KindAuth: "auth_events", event.KindAccess: "access_events", event.KindDirectory: "directory_events"} {
		got, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "tsv",
			"SELECT count() AS n, uniqExact(id) AS ids FROM "+table+" FINAL")
		if code != 0 {
			t.Fatalf("history sql: %s", errs)
		}
		if exp := "n\tids\n" + strconv.Itoa(want[kind]) + "\t" + strconv.Itoa(want[kind]) + "\n"; got != exp {
			t.Errorf("%s after kill and restart: %q, want %q", table, got, exp)
		}
	}
}
