package detect_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"breachd/deploy"
	"breachd/detect"
	"breachd/event"
)

// noAlertReads is a history whose alerts cannot be read back: a detector on it cannot restore
// suppression (it logs that and runs on).
type noAlertReads struct{ detect.History }

func (noAlertReads) RecentAlerts(context.Context, []string, time.Time) ([]event.Alert, error) {
	return nil, errors.New("alerts unreadable (test)")
}

// TestSuppressionSurvivesRestart: a detector alerts on a credential-stuffing success (cs-ok) and
// is stopped; a second success of the same account within the rule's hour of suppression
// (cs-again) then reaches a new detector (new engine, same durable: another process). A run
// without the restart alerts once; the restarted detector, which restores suppression from the
// alerts in history, alerts once too. The negative control: when it cannot read the alerts back
// it alerts on cs-again as well.
func TestSuppressionSurvivesRestart(t *testing.T) {
	first, rest := stuffing()
	before := append(append([]*event.Event{}, first...), rest...)
	again := *rest[len(rest)-1] // cs-ok, 255 s after the first failure
	again.ID, again.Time = "cs-again", again.Time.Add(45*time.Second)
	after := []*event.Event{&again}

	t.Run("no restart", func(t *testing.T) {
		in := startInfra(t)
		publish(t, in.JS, append(append([]*event.Event{}, before...), after...))
		stop := run(t, newDetector(t, in, in.History, detect.Options{}))
		waitIdle(t, in.JS)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if got := stuffingAlertEvents(t, in); got != "cs-ok" {
			t.Errorf("credential-stuffing alerts on %q, want cs-ok only", got)
		}
	})
	for _, restore := range []bool{true, false} {
		t.Run(fmt.Sprintf("restart, restore=%v", restore), func(t *testing.T) {
			in := startInfra(t)
			publish(t, in.JS, before)
			stop := run(t, newDetector(t, in, in.History, detect.Options{}))
			waitIdle(t, in.JS)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := stuffingAlertEvents(t, in); got != "cs-ok" {
				t.Fatalf("credential-stuffing alerts before the restart on %q, want cs-ok", got)
			}

			var hist detect.History = in.History
			if !restore {
				hist = noAlertReads{in.History}
			}
			stop = run(t, newDetector(t, in, hist, detect.Options{}))
			publish(t, in.JS, after)
			waitIdle(t, in.JS)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			want := map[bool]string{true: "cs-ok", false: "cs-ok cs-again"}[restore]
			if got := stuffingAlertEvents(t, in); got != want {
				t.Errorf("credential-stuffing alerts after the restart on %q, want %q", got, want)
			}
		})
	}
}

// TestSuppressionSurvivesFailover: the active detector alerts on cs-ok (acked), then is killed
// after it stored cs-again, before acking it; the standby takes over, restores suppression
// from history and evaluates the redelivered cs-again within cs-ok's hour: no second alert, as
// in a run without the kill.
func TestSuppressionSurvivesFailover(t *testing.T) {
	first, rest := stuffing()
	before := append(append([]*event.Event{}, first...), rest...)
	again := *rest[len(rest)-1]
	again.ID, again.Time = "cs-again", again.Time.Add(45*time.Second)

	s, in := startSharedInfra(t)
	publish(t, in.JS, before)
	var armed atomic.Bool
	var a *proc
	a = startProc(t, s, in, "a", 0, 1, detect.Options{AfterEventsWritten: func() {
		if armed.Load() {
			a.kill()
			<-frozen
		}
	}})
	waitIdle(t, s.JS)
	if got := stuffingAlertEvents(t, in); got != "cs-ok" {
		t.Fatalf("credential-stuffing alerts before the kill on %q, want cs-ok", got)
	}
	b := startProc(t, s, in, "b", 0, 1, detect.Options{})
	armed.Store(true)
	publish(t, in.JS, []*event.Event{&again})
	waitFor(t, "the kill", func() bool { return a.hist.dead.Load() })
	// One more event, so the standby sees an event to deliver and takes over within
	// FailoverAfter rather than AckWait (see the known limits in README.md).
	next := *first[1] // another account's login
	next.ID, next.Time = "ok-next", again.Time
	publish(t, in.JS, []*event.Event{&next})
	waitFor(t, "the standby to take over", func() bool { return b.takeovers(t) == 1 })
	waitIdle(t, s.JS)
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	if n := b.eval.count("cs-again"); n != 1 {
		t.Fatalf("the standby evaluated cs-again %d times, want 1", n)
	}
	if got := stuffingAlertEvents(t, in); got != "cs-ok" {
		t.Errorf("credential-stuffing alerts after the failover on %q, want cs-ok only", got)
	}
}

// stuffingAlertEvents lists the events of the credential-stuffing alerts for victim in history,
// in event time order.
func stuffingAlertEvents(t *testing.T, in *deploy.Infra) string {
	t.Helper()
	var got string
	err := in.History.Conn().QueryRow(context.Background(), fmt.Sprintf(`SELECT arrayStringConcat(groupArray(event_id), ' ')
		FROM (SELECT event_id FROM alerts FINAL WHERE rule_id = 'credential-stuffing' AND account = '%s' ORDER BY event_time, event_id)`,
		victim)).Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
