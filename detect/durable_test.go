package detect_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/deploy"
	"breachd/detect"
)

// snapshot is what the test saw of the pipeline at one injected failure.
type snapshot struct {
	call                        string
	ackPending, redelivered     int
	ackFloor                    uint64
	historyRows, alertsInStream uint64
	err                         error
}

// recorder takes a snapshot at every injected failure, from inside the failing call: that is
// the moment the batch is in hand and not durable, so nothing of it may be acked yet. It runs
// in the detector's goroutine, so it records errors instead of failing the test.
type recorder struct {
	mu   sync.Mutex
	snap []snapshot
}

func (r *recorder) hook(in *deploy.Infra) func(call string) {
	return func(call string) {
		ctx := context.Background()
		s := snapshot{call: call}
		var info *jetstream.ConsumerInfo
		c, err := in.JS.Consumer(ctx, bus.StreamEvents, soleDurable)
		if err == nil {
			info, err = c.Info(ctx)
		}
		if err == nil {
			s.ackPending, s.redelivered, s.ackFloor = info.NumAckPending, info.NumRedelivered, info.AckFloor.Stream
			err = in.History.Conn().QueryRow(ctx, "SELECT (SELECT count() FROM auth_events) + (SELECT count() FROM access_events) + (SELECT count() FROM directory_events)").Scan(&s.historyRows)
		}
		var alerts jetstream.Stream
		if err == nil {
			alerts, err = in.JS.Stream(ctx, bus.StreamAlerts)
		}
		if err == nil {
			var si *jetstream.StreamInfo
			if si, err = alerts.Info(ctx); err == nil {
				s.alertsInStream = si.State.Msgs
			}
		}
		s.err = err
		r.mu.Lock()
		r.snap = append(r.snap, s)
		r.mu.Unlock()
	}
}

func (r *recorder) snapshots() []snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.snap)
}

// TestHistoryFailureHoldsAcks: while history refuses the events nothing is acked and the
// batch is redelivered (not lost); once history recovers, every event is in history exactly
// once and the alert is written and published exactly once.
//
// The failing WriteEvents returns before touching the store, so no write partially succeeds:
// the rows are asserted without FINAL, i.e. not even a transient duplicate.
func TestHistoryFailureHoldsAcks(t *testing.T) {
	in := startInfra(t)
	evs := fixture()
	publish(t, in.JS, evs)
	var rec recorder
	h := &flakyHistory{store: in.History, onFail: rec.hook(in)}
	// One attempt retries with backoff 100, 200, 400, 800 ms, so within a FlushTimeout of 1 s
	// it makes at most four calls: six failures force at least one nak and a redelivery.
	const failures = 6
	h.failEvents.Store(failures)
	reg := prometheus.NewRegistry()
	stop := run(t, newDetector(t, in, h, detect.Options{FlushTimeout: time.Second, Registerer: reg}))
	waitIdle(t, in.JS)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}

	snaps := rec.snapshots()
	t.Logf("at the injected failures: %+v", snaps)
	sawRedelivery := false
	for i, s := range snaps {
		if s.err != nil {
			t.Fatalf("failure %d (%s): snapshot: %v", i+1, s.call, s.err)
		}
		if s.ackPending != len(evs) || s.ackFloor != 0 || s.historyRows != 0 || s.alertsInStream != 0 {
			t.Errorf("failure %d (%s): ack pending %d, ack floor %d, %d rows in history, %d alerts on ALERTS; want %d, 0, 0, 0",
				i+1, s.call, s.ackPending, s.ackFloor, s.historyRows, s.alertsInStream, len(evs))
		}
		sawRedelivery = sawRedelivery || s.redelivered > 0
	}
	if len(snaps) != failures {
		t.Errorf("%d injected failures observed, want %d", len(snaps), failures)
	}
	if !sawRedelivery || counter(t, reg, "breach_detect_batch_failures_total") < 1 {
		t.Errorf("the failing batch was never given up and redelivered: the test did not exercise redelivery (%+v)", snaps)
	}

	if got, want := historyIDs(t, in), ids(evs); !slices.Equal(got, want) {
		t.Errorf("event ids in history (no FINAL):\n got %v\nwant %v", got, want)
	}
	checkAlertOnce(t, in)
	checkDrained(t, in, uint64(len(evs)))
}

// TestAlertWriteFailureHoldsAcks: the events are written, then writing the alert times out
// once, so the whole batch is redelivered. The redelivered batch must still raise the alert
// (the rule's suppression already saw it the first time), write it and publish it once.
//
// The events were stored by the first attempt; the redelivered batch finds them in history
// and does not write them again: the rows are asserted without FINAL.
func TestAlertWriteFailureHoldsAcks(t *testing.T) {
	in := startInfra(t)
	evs := fixture()
	publish(t, in.JS, evs)
	var rec recorder
	h := &flakyHistory{store: in.History, hangAlerts: true, onFail: rec.hook(in)}
	h.failAlerts.Store(1)
	reg := prometheus.NewRegistry()
	stop := run(t, newDetector(t, in, h, detect.Options{FlushTimeout: 2 * time.Second, Registerer: reg}))
	waitIdle(t, in.JS)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}

	snaps := rec.snapshots()
	if len(snaps) != 1 {
		t.Fatalf("%d injected failures observed, want 1", len(snaps))
	}
	if s := snaps[0]; s.err != nil {
		t.Fatalf("snapshot at the failure: %v", s.err)
	} else if s.ackPending != len(evs) || s.ackFloor != 0 || s.alertsInStream != 0 {
		t.Errorf("at the failure: ack pending %d, ack floor %d, %d alerts on ALERTS; want %d, 0, 0",
			s.ackPending, s.ackFloor, s.alertsInStream, len(evs))
	}
	if n := counter(t, reg, "breach_detect_batch_failures_total"); n != 1 {
		t.Errorf("breach_detect_batch_failures_total = %v, want 1", n)
	}

	if got, want := historyIDs(t, in), ids(evs); !slices.Equal(got, want) {
		t.Errorf("event ids in history (no FINAL):\n got %v\nwant %v", got, want)
	}
	if n := counter(t, reg, "breach_detect_rewrites_skipped_total"); n != float64(len(evs)) {
		t.Errorf("breach_detect_rewrites_skipped_total = %v, want %d", n, len(evs))
	}
	checkAlertOnce(t, in)
	checkDrained(t, in, uint64(len(evs)))
}

// TestLostInsertAnswerWritesOnce: ClickHouse stores the events but the detector sees an error
// (the answer was lost). The retry must not store them a second time: every row once, counted
// without FINAL, and the alert once.
func TestLostInsertAnswerWritesOnce(t *testing.T) {
	in := startInfra(t)
	evs := fixture()
	publish(t, in.JS, evs)
	var rec recorder
	h := &flakyHistory{store: in.History, onFail: rec.hook(in)}
	h.lostEvents.Store(1)
	reg := prometheus.NewRegistry()
	stop := run(t, newDetector(t, in, h, detect.Options{Registerer: reg}))
	waitIdle(t, in.JS)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	snaps := rec.snapshots()
	if len(snaps) != 1 || snaps[0].err != nil || snaps[0].historyRows != uint64(len(evs)) || snaps[0].ackFloor != 0 {
		t.Fatalf("at the lost answer: %+v; want the %d rows stored and nothing acked", snaps, len(evs))
	}
	if got, want := historyIDs(t, in), ids(evs); !slices.Equal(got, want) {
		t.Errorf("event ids in history (no FINAL):\n got %v\nwant %v", got, want)
	}
	if n := counter(t, reg, "breach_detect_rewrites_skipped_total"); n != float64(len(evs)) {
		t.Errorf("breach_detect_rewrites_skipped_total = %v, want %d", n, len(evs))
	}
	checkAlertOnce(t, in)
	checkDrained(t, in, uint64(len(evs)))
}
