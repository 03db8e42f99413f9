package notify

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/event"
)

// TestStandbyNotifierTakesOver: two notifiers on the durable, each in a "process" of its own
// (connection, metrics). Only the first, active one handles alerts; it is killed (its
// connection closed hard) with an alert in hand. The standby takes over, and the alert the dead
// one held comes again at once (the takeover resets the durable), not after AckWait (30 s):
// every alert is counted once in the incident.
func TestStandbyNotifierTakesOver(t *testing.T) {
	js, srv := startJetStream(t)
	const alerts = 10
	for i := range alerts {
		a := alertFor(orgA, accA, fmt.Sprintf("x%02d", i), "r1", event.SeverityMedium, "")
		publishAlert(t, js, a, a.ID)
	}
	blocked := &blockingMirror{entered: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(blocked.release) }) // the dead process's goroutine ends with the test
	jsA := connect(t, srv)
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a, err := New(jsA, Options{Mirror: blocked, Logger: discard, Batch: 2, Registerer: regA})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.Run(context.Background()) }() // killed below: Run ends when its connection is gone
	select {
	case <-blocked.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the first notifier never handled an alert")
	}
	b, err := New(connect(t, srv), Options{Mirror: &fakeMirror{}, Logger: discard, Batch: 2, Registerer: regB})
	if err != nil {
		t.Fatal(err)
	}
	stopB := runNotifier(t, b)
	time.Sleep(time.Second)
	if got := counters(t, regB)["breach_notify_takeovers_total"]; got != 0 {
		t.Fatalf("the standby took over %v times while the active ran, want 0", got)
	}
	jsA.Conn().Close() // kill -9: no ack, no nak
	killed := time.Now()
	waitFor(t, "the standby to take over and handle every alert", func() (bool, string) { return drained(js, bus.StreamAlerts, DefaultDurable) })
	t.Logf("all alerts handled %.1fs after the kill", time.Since(killed).Seconds())
	stopB()
	if got := counters(t, regB)["breach_notify_takeovers_total"]; got != 1 {
		t.Errorf("the standby took over %v times, want 1", got)
	}
	all, err := testStore(t, js).List(context.Background())
	if err != nil || len(all) != 1 {
		t.Fatalf("List: %d incidents, %v; want 1", len(all), err)
	}
	if all[0].AlertCount != alerts {
		t.Errorf("incident counts %d alerts, want %d: each once", all[0].AlertCount, alerts)
	}
}
