package main

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"breachd/bus"
	"breachd/deploy"
	"breachd/detect"
	"breachd/simulate"
)

// TestDetectProcessFailover: two `breachd detect` processes run member 0 of 1; the first takes
// over, the second stands by. The first is killed with SIGKILL; the second takes over within
// --failover-after and some (asserted loosely: well under AckWait, 90 s), processes what the
// dead one left and what comes after, and history holds every event of the stream once
// (counted without FINAL).
func TestDetectProcessFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	in, natsURL := sharedInfra(ctx, t)
	// Orgs 2 after Orgs 1 adds the second organisation's events (the first's ids are the
	// same, so JetStream drops them as duplicates).
	ingestOrgs := func(orgs int) {
		t.Helper()
		cfg := simulate.Defaults()
		cfg.Orgs = orgs
		ingestSimulated(ctx, t, in, cfg)
	}
	ingestOrgs(1)

	start := func(name string) (*exec.Cmd, *syncBuffer) {
		t.Helper()
		var log syncBuffer
		cmd := exec.Command(binary, "detect", "--member", "0", "--members", "1", "--nats", natsURL,
			"--clickhouse", in.EndpointDSN, "--metrics-addr", "", "--failover-after", "2s")
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if testing.Verbose() || t.Failed() {
				t.Logf("%s:\n%s", name, log.String())
			}
		})
		return cmd, &log
	}
	waitLog := func(log *syncBuffer, what string) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(log.String(), what); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log within 2 min", what)
			}
		}
	}
	const tookOver = "took over member 0 of 1"
	a, logA := start("active")
	waitLog(logA, tookOver)
	_, logB := start("standby")
	waitLog(logB, "detector started")
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.Wait()
	killed := time.Now()
	ingestOrgs(2) // events after the kill, so that there is something to take over with
	waitLog(logB, tookOver)
	took := time.Since(killed)
	t.Logf("standby took over %.1fs after kill -9 of the active (--failover-after 2s)", took.Seconds())
	if took > 30*time.Second {
		t.Errorf("takeover %s after the kill, want well under AckWait (90 s)", took)
	}
	if strings.Count(logB.String(), tookOver) != 1 {
		t.Errorf("the standby took over %d times, want once", strings.Count(logB.String(), tookOver))
	}
	if err := deploy.WaitIdle(ctx, in.JS, 100*time.Millisecond, map[string]string{detect.DurableName(0, 1): bus.StreamEvents}); err != nil {
		t.Fatal(err)
	}
	st, err := in.JS.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows uint64
	if err := in.History.Conn().QueryRow(ctx, "SELECT (SELECT count() FROM auth_events) + (SELECT count() FROM access_events) + (SELECT count() FROM directory_events)").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != info.State.Msgs {
		t.Errorf("%d event rows in history (no FINAL), want %d (the stream's events, each once)", rows, info.State.Msgs)
	}
}
