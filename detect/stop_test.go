package detect_test

import (
	"context"
	"testing"
	"time"

	"breachd/bus/bustest"
	"breachd/detect"
	"breachd/directory"
	"breachd/rules"
	"breachd/simulate"
)

// TestStandbyStopsWhileNATSIsDown: a standby whose server is gone (its connection reconnecting
// forever, as after a kill -9 of the node it was connected to) returns from Run soon after ctx
// is cancelled. Its directory tail reads through an ordered consumer, whose every fetch
// recreates the consumer on the server; by default it retries that, without a context, until
// the server answers, and Run waits for the tail.
func TestStandbyStopsWhileNATSIsDown(t *testing.T) {
	s := bustest.Start(t)
	set, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New()
	// The stream is empty, so the server never pins it: it stays a standby and never writes
	// history (nil).
	d, err := detect.New(s.JS, newEngine(t, set, dir), dir, nil, detect.Options{Logger: testLogger(t), FailoverAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("Run ended before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("detector not ready within 30 s")
	}
	time.Sleep(time.Second) // the tail reads the stream, the standby asks for the pin
	s.Embedded.Shutdown()
	time.Sleep(3 * time.Second) // the tail's reads fail while the connection reconnects
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the standby's Run did not return within 30 s of cancel while NATS was down")
	}
}

// TestActiveStopsWhileNATSIsDown: an active detector whose server is gone returns from Run soon
// after ctx is cancelled: its fetches, keep-alive and pin questions all end within their bounds.
func TestActiveStopsWhileNATSIsDown(t *testing.T) {
	cfg := simulate.Defaults()
	cfg.Orgs = 1
	evs := generate(t, cfg)
	s, in := startSharedInfra(t)
	ingestAll(t, in, evs)
	a := startProc(t, s, in, "a", 0, 1, detect.Options{Batch: 500, FailoverAfter: time.Second})
	waitFor(t, "the detector to take over", func() bool { return a.takeovers(t) == 1 })
	waitIdle(t, s.JS)
	s.Embedded.Shutdown()
	time.Sleep(3 * time.Second) // its fetches and keep-alive fail while the connection reconnects
	start := time.Now()
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("the active's Run returned %s after cancel while NATS was down, want within 30 s", took.Round(time.Second))
	}
}
