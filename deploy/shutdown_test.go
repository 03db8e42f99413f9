package deploy

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"breachd/bus"
	"breachd/detect"
	"breachd/event"
	"breachd/ingest"
	"breachd/simulate"
)

// TestShutdownMidStreamLosesNothing cancels the pipeline while events are flowing (the
// SIGINT/SIGTERM path), then restarts it on the same data and replays the same input: if any
// stage had acked an event it had not written, JetStream's dedup would drop the replayed copy
// and the event would be missing from history for good.
func TestShutdownMidStreamLosesNothing(t *testing.T) {
	cfg := simulate.Defaults()
	cfg.Seed = 5
	cfg.Orgs = 1
	gen, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[event.Kind]uint64{}
	if err := gen.Run(context.Background(), func(e *event.Event) error { kinds[e.Kind]++; return nil }); err != nil {
		t.Fatal(err)
	}
	total := kinds[event.KindAuth] + kinds[event.KindAccess] + kinds[event.KindDirectory]
	dataDir := filepath.Join(t.TempDir(), "data")
	in := startTestInfra(t, dataDir)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunPipeline(ctx, in, PipelineConfig{Sources: []ingest.Source{NewDemoSource(gen, 4000)}, Logger: testLogger(t)})
	}()
	historyRows := func() uint64 {
		return count(t, in, "SELECT (SELECT count() FROM auth_events) + (SELECT count() FROM access_events) + (SELECT count() FROM directory_events)")
	}
	deadline := time.Now().Add(2 * time.Minute)
	for historyRows() < total/4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel() // as on SIGINT
	if err := <-done; err != nil {
		t.Fatalf("pipeline after cancel: %v", err)
	}
	partial := historyRows()
	// Every stage finished what it had taken: nothing is left delivered but unsettled.
	for durable, stream := range map[string]string{detect.DurableName(0, 1): bus.StreamEvents, "notify": bus.StreamAlerts} {
		c, err := in.JS.Consumer(context.Background(), stream, durable)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending != 0 {
			t.Errorf("%s: %d messages delivered but not settled at shutdown", durable, info.NumAckPending)
		}
	}
	t.Logf("stopped with %d of %d events in history", partial, total)
	if partial == 0 || partial > total {
		t.Fatalf("history rows after shutdown = %d, want between 1 and %d", partial, total)
	}
	in.Close()

	in = startTestInfra(t, dataDir)
	defer in.Close()
	runToCompletion(t, in, nil, NewDemoSource(gen, 0))
	for k, table := range map[event.Kind]string{event.KindAuth: "auth_events", event.KindAccess: "access_events", event.KindDirectory: "directory_events"} {
		if n := count(t, in, "SELECT count() FROM "+table+" FINAL"); n != kinds[k] {
			t.Errorf("%s: %d rows after restart and replay, want %d", table, n, kinds[k])
		}
	}
}
