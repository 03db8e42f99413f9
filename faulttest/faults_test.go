package faulttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"breachd/bus"
	"breachd/detect"
)

// A scenario's fault strikes mid-stream: when the detectors have stored part of the day and
// ingest is publishing the rest. It returns when the fault is over (for a crash: when the
// process is dead and, where the scenario says so, restarted).
type fault func(ctx context.Context, t *testing.T, p *pipeline) error

// scenario is one run of the day: the clean run (fault nil) or a fault.
type scenario struct {
	name  string
	fault fault
}

var (
	clean = scenario{"clean", nil}
	// crashes run side by side (each on its own cluster and database): mostly they wait, for
	// elections, restarts and redeliveries.
	crashes = []scenario{
		{"a-kill-events-leader", killEventsLeader},
		{"b-kill-active-detector", killActiveDetector},
		{"c-restart-server-on-store", restartServer},
	}
	// outage runs alone, overlapping nothing: ClickHouse is away for 60 s.
	outage = scenario{"d-clickhouse-unreachable-60s", clickhouseUnreachable}
)

// TestFaults runs the clean run and then each fault scenario on a fresh cluster and database,
// and checks after each: every event exactly once in history (without FINAL), every alert
// once, one incident per account, no deactivation twice, and the same alerts, incidents and
// deactivations as the clean run. It logs the counts of each (go test -v).
func TestFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	in := simulatedDay(t)
	var mu sync.Mutex
	table := []string{tableHeader}
	defer func() {
		t.Logf("counts per scenario (rows/distinct ids, without FINAL; %d events in: %v)\n%s", len(in.lines), in.kinds, strings.Join(table, "\n"))
	}()
	var ref *outcome
	run := func(t *testing.T, sc scenario) {
		began := time.Now()
		o, err := runScenario(ctx, t, in, sc.fault)
		if err != nil {
			t.Fatal(err)
		}
		bad := o.check(in, ref)
		mu.Lock()
		table = append(table, o.row(sc.name, time.Since(began).Round(time.Second).String(), ref == nil || slices.Equal(o.AlertSet, ref.AlertSet)))
		mu.Unlock()
		for _, b := range bad {
			t.Error(b)
		}
		if ref == nil { // the clean run: its alerts are the reference even where it broke a rule above
			ref = &o
		}
	}
	t.Run(clean.name, func(t *testing.T) { run(t, clean) })
	if ref == nil {
		t.Fatal("the clean run failed: nothing to compare the fault scenarios with")
	}
	t.Run("crashes", func(t *testing.T) {
		for _, sc := range crashes {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				run(t, sc)
			})
		}
	})
	t.Run(outage.name, func(t *testing.T) { run(t, outage) })
}

var databases atomic.Int32

// runScenario runs the day through a fresh pipeline, with f striking mid-stream, and returns
// what the run left behind.
func runScenario(ctx context.Context, t *testing.T, in input, f fault) (outcome, error) {
	p := startPipeline(ctx, t, fmt.Sprintf("faults_%d", databases.Add(1)))
	p.startIngest()
	half := len(in.lines) / 2
	fed := make(chan error, 1)
	release := make(chan struct{})
	go func() {
		if err := p.feed(ctx, in.lines[:half]); err != nil {
			fed <- err
			return
		}
		select { // the rest once the fault is about to strike
		case <-release:
		case <-ctx.Done():
			fed <- ctx.Err()
			return
		}
		err := p.feed(ctx, in.lines[half:])
		if cerr := p.stdin.Close(); err == nil {
			err = cerr
		}
		fed <- err
	}()
	if err := p.waitStored(ctx, uint64(len(in.lines)/5)); err != nil {
		return outcome{}, err
	}
	if err := p.waitRunning(ctx); err != nil {
		return outcome{}, err
	}
	close(release)
	if f != nil {
		if err := f(ctx, t, p); err != nil {
			return outcome{}, err
		}
	}
	// Ingest reads stdin as fast as it publishes: a feed that does not end in time means
	// ingest is stuck publishing.
	select {
	case err := <-fed:
		if err != nil {
			return outcome{}, err
		}
	case <-time.After(2 * time.Minute):
		return outcome{}, errors.New("ingest stopped reading its input for 2 minutes: stuck publishing?")
	}
	if err := p.finish(ctx); err != nil {
		return outcome{}, err
	}
	return collect(ctx, p)
}

// killEventsLeader is (a): kill -9 of the server leading the EVENTS stream. The cluster keeps
// its quorum with the other two; ingest, detectors and notifier must carry on with them.
func killEventsLeader(ctx context.Context, t *testing.T, p *pipeline) error {
	i, err := p.cl.leader(ctx, bus.StreamEvents)
	if err != nil {
		return err
	}
	t.Logf("kill -9 %s, the leader of %s", p.cl.nodes[i].cfg.Name, bus.StreamEvents)
	if err := p.cl.stop(ctx, i, syscall.SIGKILL); err != nil {
		return err
	}
	next, err := p.cl.leader(ctx, bus.StreamEvents)
	if err == nil && next == i {
		err = fmt.Errorf("%s still reported as the leader after its kill", p.cl.nodes[i].cfg.Name)
	}
	return err
}

// killActiveDetector is (b): kill -9 of member 0's active detector while it holds a batch
// (delivered, not acked). With standbys one of them takes over; without, the detector is
// restarted at once (as a supervisor would).
func killActiveDetector(ctx context.Context, t *testing.T, p *pipeline) error {
	pending, err := waitHeld(ctx, p, detect.DurableName(0, members))
	if err != nil {
		return err
	}
	i := active(p.dets[0])
	if i < 0 {
		return fmt.Errorf("no detector of member 0 says it is active")
	}
	d := p.dets[0][i]
	t.Logf("kill -9 %s, holding %d events unacked", d.name, pending)
	d.kill(t)
	p.dets[0] = slices.Delete(p.dets[0], i, i+1)
	if standbys == 0 {
		p.startDetector(0)
	}
	return nil
}

// active is the index of the active detector among one member's processes, -1 if none is: the
// only one without standbys, else the one whose log last says it took over (hot standbys log
// "took over member" and "standing by").
func active(dets []*proc) int {
	if len(dets) == 1 {
		return 0
	}
	for i, d := range dets {
		log := d.tail(1 << 20)
		if took := strings.LastIndex(log, "took over member"); took >= 0 && took > strings.LastIndex(log, "standing by") {
			return i
		}
	}
	return -1
}

// waitHeld polls durable every 10 ms until it has deliveries unacked, for up to 20 s, and
// returns how many. Kill it then and a batch is lost with the process. Should the detector be
// idle at every poll (it keeps up with the feed), it returns 0: the kill goes ahead anyway.
func waitHeld(ctx context.Context, p *pipeline, durable string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := p.cl.JS.Consumer(ctx, bus.StreamEvents, durable)
	if err != nil {
		return 0, err
	}
	for {
		info, err := c.Info(ctx)
		switch {
		case ctx.Err() != nil:
			return 0, nil
		case err != nil:
			return 0, err
		case info.NumAckPending > 0:
			return info.NumAckPending, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// restartServer is (c): a server that is not the EVENTS leader stops (SIGTERM) while events
// flow, stays down a few seconds, starts again on its store and must catch up.
func restartServer(ctx context.Context, t *testing.T, p *pipeline) error {
	leader, err := p.cl.leader(ctx, bus.StreamEvents)
	if err != nil {
		return err
	}
	i := (leader + 1) % len(p.cl.nodes)
	t.Logf("stop %s (a follower of %s), restart it on its store", p.cl.nodes[i].cfg.Name, bus.StreamEvents)
	if err := p.cl.stop(ctx, i, syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(3 * time.Second): // events go on without it
	}
	p.cl.start(i)
	for _, s := range []string{bus.StreamEvents, bus.StreamAlerts} {
		if err := p.cl.waitCurrent(ctx, s); err != nil {
			return fmt.Errorf("%s after its restart: %w", p.cl.nodes[i].cfg.Name, err)
		}
	}
	return nil
}

// clickhouseUnreachable is (d): ClickHouse unreachable for 60 s (the proxy resets every
// connection), then back.
func clickhouseUnreachable(ctx context.Context, t *testing.T, p *pipeline) error {
	t.Log("ClickHouse unreachable for 60 s")
	p.db.Proxy.cut(true)
	defer p.db.Proxy.cut(false)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(60 * time.Second):
	}
	return nil
}
