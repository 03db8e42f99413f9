package detect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/deploy"
	"breachd/detect"
	"breachd/directory"
	"breachd/event"
	"breachd/history"
	"breachd/rules"
)

// The tests in this file cover the batch the fetcher holds ahead while Run makes the one in
// hand durable: after a failure of the batch in hand, at shutdown, and past maxAhead.

// aheadFixture is fixture() followed by n more reads of the pupil's data by the blocked
// guardian, two hours apart (past the rule's 1 h suppression): every one of the n+1 reads
// raises its own alert.
func aheadFixture(n int) []*event.Event {
	evs := fixture()
	last := evs[len(evs)-1]
	for k := 1; k <= n; k++ {
		e := *last
		e.ID = fmt.Sprintf("g-%d", k)
		e.Time = last.Time.Add(time.Duration(k) * 2 * time.Hour)
		evs = append(evs, &e)
	}
	return evs
}

// alertIDs returns the ids of the alerts evs must raise: one per read by the guardian.
func alertIDs(evs []*event.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == event.KindAccess && e.ActorRole == "guardian" {
			out = append(out, event.AlertID("guardian-blocked-access", e.ID))
		}
	}
	slices.Sort(out)
	return out
}

// inOrder returns the ids of evs in the order given (stream order for published events).
func inOrder(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// recordingEval is the rule engine, recording the id of every event evaluated, in order.
type recordingEval struct {
	*rules.Engine
	mu  sync.Mutex
	ids []string
}

func (r *recordingEval) Evaluate(ctx context.Context, e *event.Event) []event.Alert {
	r.mu.Lock()
	r.ids = append(r.ids, e.ID)
	r.mu.Unlock()
	return r.Engine.Evaluate(ctx, e)
}

func (r *recordingEval) evaluated() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// newRecordingDetector is newDetector with the engine wrapped in a recordingEval.
func newRecordingDetector(tb testing.TB, in *deploy.Infra, hist detect.History, opts detect.Options) (*detect.Detector, *recordingEval) {
	tb.Helper()
	set, err := rules.Default()
	if err != nil {
		tb.Fatalf("default rule pack: %v", err)
	}
	dir := directory.New() // rebuilt from history, as deploy does on a detector's start
	if _, err := in.History.ReplayDirectory(context.Background(), dir.Apply); err != nil {
		tb.Fatalf("rebuild directory from history: %v", err)
	}
	ev := &recordingEval{Engine: newEngine(tb, set, dir)}
	if opts.Logger == nil {
		opts.Logger = testLogger(tb)
	}
	d, err := detect.New(in.JS, ev, dir, hist, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return d, ev
}

// slowHistory is the real store whose first WriteEvents call of the event holdID (any event
// if empty) is held: it signals entered, then
// waits until release is closed and stores the rows, or, with fail set, waits for its context
// to end (FlushTimeout) and fails without storing, like a write that times out. It records the
// ids of every successful WriteEvents call and of every Unwritten question, in order.
type slowHistory struct {
	store   *history.Store
	holdID  string
	fail    bool
	entered chan struct{}
	release chan struct{}

	mu        sync.Mutex
	held      bool
	written   [][]string
	unwritten [][]string
}

func newSlowHistory(store *history.Store, holdID string, fail bool) *slowHistory {
	return &slowHistory{store: store, holdID: holdID, fail: fail, entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *slowHistory) WriteEvents(ctx context.Context, evs []*event.Event) error {
	h.mu.Lock()
	hold := !h.held && (h.holdID == "" || slices.ContainsFunc(evs, func(e *event.Event) bool { return e.ID == h.holdID }))
	h.held = h.held || hold
	h.mu.Unlock()
	if hold {
		close(h.entered)
		if h.fail {
			<-ctx.Done()
			return fmt.Errorf("write events: %w", errInjected)
		}
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := h.store.WriteEvents(ctx, evs); err != nil {
		return err
	}
	h.mu.Lock()
	h.written = append(h.written, inOrder(evs))
	h.mu.Unlock()
	return nil
}

func (h *slowHistory) Unwritten(ctx context.Context, evs []*event.Event) ([]*event.Event, error) {
	h.mu.Lock()
	h.unwritten = append(h.unwritten, inOrder(evs))
	h.mu.Unlock()
	return h.store.Unwritten(ctx, evs)
}

func (h *slowHistory) RecentAlerts(ctx context.Context, ruleIDs []string, since time.Time) ([]event.Alert, error) {
	return h.store.RecentAlerts(ctx, ruleIDs, since)
}

func (h *slowHistory) AlertedEvents(ctx context.Context, alerts []event.Alert) (map[string]*event.Event, error) {
	return h.store.AlertedEvents(ctx, alerts)
}

func (h *slowHistory) UnwrittenAlerts(ctx context.Context, alerts []event.Alert) ([]event.Alert, error) {
	return h.store.UnwrittenAlerts(ctx, alerts)
}

func (h *slowHistory) WriteAlerts(ctx context.Context, alerts []event.Alert) error {
	return h.store.WriteAlerts(ctx, alerts)
}

// writes returns the ids of every successful WriteEvents call and of every Unwritten
// question, in order.
func (h *slowHistory) writes() (written, unwritten [][]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.written), slices.Clone(h.unwritten)
}

// checkAlertsOnce asserts that history holds exactly the alerts want, one row each (no
// FINAL), and that ALERTS holds each exactly once.
func checkAlertsOnce(t *testing.T, in *deploy.Infra, want []string) {
	t.Helper()
	rows, err := in.History.Conn().Query(context.Background(), "SELECT id FROM alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var stored []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(stored)
	if !slices.Equal(stored, want) {
		t.Errorf("alert ids in history (no FINAL):\n got %v\nwant %v", stored, want)
	}
	var published []string
	for _, m := range streamAlerts(t, in.JS) {
		var a event.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatalf("alert on ALERTS: %v", err)
		}
		if m.Header.Get(bus.HeaderMsgID) != a.ID {
			t.Errorf("alert %s on ALERTS with Nats-Msg-Id %q", a.ID, m.Header.Get(bus.HeaderMsgID))
		}
		published = append(published, a.ID)
	}
	slices.Sort(published)
	if !slices.Equal(published, want) {
		t.Errorf("alert ids on ALERTS:\n got %v\nwant %v", published, want)
	}
}

// TestBatchAheadAfterFailure: the event write of the batch with the first alert hangs past
// FlushTimeout while the fetcher holds the next batch ahead. The batch ahead is made durable
// first, then the failed batch comes back and is written with the alerts remembered from its
// one evaluation: every event is evaluated once, written once, and every alert is written and
// published once.
func TestBatchAheadAfterFailure(t *testing.T) {
	in := startInfra(t)
	evs := aheadFixture(14) // 25 events, 15 alerts, the first (sas-7) in the third batch
	publish(t, in.JS, evs)
	h := newSlowHistory(in.History, "sas-7", true)
	reg := prometheus.NewRegistry()
	// The batches are events [0,5), [5,10), ...: everything is on the stream when Run starts,
	// so each fetch fills its batch at once.
	d, ev := newRecordingDetector(t, in, h, detect.Options{Batch: 5, FlushTimeout: 2 * time.Second, Registerer: reg})
	stop := run(t, d)
	waitIdle(t, in.JS)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}

	if n := counter(t, reg, "breach_detect_batch_failures_total"); n != 1 {
		t.Errorf("breach_detect_batch_failures_total = %v, want 1", n)
	}
	order := inOrder(evs)
	if got := ev.evaluated(); !slices.Equal(got, order) {
		t.Errorf("events evaluated (each once, in stream order):\n got %v\nwant %v", got, order)
	}
	written, unwritten := h.writes()
	t.Logf("writes: %v; asked what is unwritten: %v", written, unwritten)
	// The batch ahead is written before the failed batch comes back, which is written as it was.
	writeOf := func(id string) int {
		return slices.IndexFunc(written, func(w []string) bool { return slices.Contains(w, id) })
	}
	failed, ahead := writeOf(order[10]), writeOf(order[15])
	if failed < 0 || ahead < 0 || ahead > failed || !slices.Equal(written[failed], order[10:15]) || !slices.Equal(written[ahead], order[15:20]) {
		t.Errorf("writes %v; want the batch ahead %v written before the failed batch %v", written, order[15:20], order[10:15])
	}
	if got := historyIDs(t, in); !slices.Equal(got, ids(evs)) {
		t.Errorf("event ids in history (no FINAL):\n got %v\nwant %v", got, ids(evs))
	}
	checkAlertsOnce(t, in, alertIDs(evs))
	checkDrained(t, in, uint64(len(evs)))
}

// TestShutdownWithBatchAhead cancels Run while the batch in hand is in a slow write and the
// fetcher holds the next batch ahead: both are finished and acked, in order, nothing else is
// fetched, acked or written, and nothing is left delivered and unsettled. A second detector
// then processes the rest without writing anything twice.
func TestShutdownWithBatchAhead(t *testing.T) {
	in := startInfra(t)
	evs := aheadFixture(14)
	publish(t, in.JS, evs)
	h := newSlowHistory(in.History, "", false)
	const batch = 5
	d, _ := newRecordingDetector(t, in, h, detect.Options{Batch: batch})
	stop := run(t, d)
	select {
	case <-h.entered:
	case <-time.After(time.Minute):
		t.Fatal("the detector never wrote its first batch")
	}
	// The fetcher has taken the batch ahead once 2×batch messages are delivered and not acked.
	info := consumerInfo(t, in.JS)
	for deadline := time.Now().Add(30 * time.Second); info.NumAckPending < 2*batch && time.Now().Before(deadline); info = consumerInfo(t, in.JS) {
		time.Sleep(20 * time.Millisecond)
	}
	if info.NumAckPending != 2*batch || info.AckFloor.Stream != 0 {
		t.Fatalf("with the first batch in a slow write: %d delivered and not acked, ack floor %d; want %d (the batch in hand and the batch ahead), 0",
			info.NumAckPending, info.AckFloor.Stream, 2*batch)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }() // as on SIGTERM
	// Give the fetcher time to see the cancel and stop; had it given the batch ahead back
	// now, its next fetch would take it again (delivered three times, asserted below).
	time.Sleep(500 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) with the batch in hand not written", err)
	default:
	}
	close(h.release)
	if err := <-stopped; err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	if err := in.NC.Flush(); err != nil { // acks and naks are buffered writes
		t.Fatal(err)
	}

	info = consumerInfo(t, in.JS)
	for deadline := time.Now().Add(10 * time.Second); info.AckFloor.Stream < 2*batch && time.Now().Before(deadline); info = consumerInfo(t, in.JS) {
		time.Sleep(20 * time.Millisecond)
	}
	order := inOrder(evs)
	if info.AckFloor.Stream != 2*batch || info.NumAckPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("after shutdown: ack floor %d, %d delivered and not acked, %d redelivered; want %d (the batch in hand and the one ahead), 0, 0",
			info.AckFloor.Stream, info.NumAckPending, info.NumRedelivered, 2*batch)
	}
	if got := historyIDs(t, in); !slices.Equal(got, ids(evs[:2*batch])) {
		t.Errorf("after shutdown, event ids in history (no FINAL):\n got %v\nwant the batch in hand and the one ahead %v", got, ids(evs[:2*batch]))
	}

	d2, ev2 := newRecordingDetector(t, in, in.History, detect.Options{Batch: batch})
	stop = run(t, d2)
	waitIdle(t, in.JS)
	if err := stop(); err != nil {
		t.Fatalf("second Run = %v, want nil", err)
	}
	if got := ev2.evaluated(); !slices.Equal(got, order[2*batch:]) {
		t.Errorf("second detector evaluated:\n got %v\nwant %v", got, order[2*batch:])
	}
	if got := historyIDs(t, in); !slices.Equal(got, ids(evs)) {
		t.Errorf("event ids in history (no FINAL):\n got %v\nwant %v", got, ids(evs))
	}
	checkAlertsOnce(t, in, alertIDs(evs))
}

// TestBatchAheadHeldPastMaxAhead: while the first batch's write is slow, the fetcher holds
// what arrives after it ahead; past maxAhead it renews the held messages' ack deadlines
// rather than giving them back, and hands the batch over once Run is free. Every event is
// evaluated and written once, in stream order, and nothing was delivered twice (history is
// never asked what it holds already).
func TestBatchAheadHeldPastMaxAhead(t *testing.T) {
	const maxAhead = 300 * time.Millisecond
	t.Cleanup(detect.SetMaxAhead(maxAhead)) // runs after the detector's cleanup has stopped it
	in := startInfra(t)
	evs := aheadFixture(2) // 13 events
	const batch = 8
	publish(t, in.JS, evs[:batch])
	h := newSlowHistory(in.History, "", false)
	d, ev := newRecordingDetector(t, in, h, detect.Options{Batch: batch, FetchWait: 50 * time.Millisecond})
	stop := run(t, d)
	select {
	case <-h.entered:
	case <-time.After(time.Minute):
		t.Fatal("the detector never wrote its first batch")
	}
	// What arrives now is held ahead, a batch short of full, topped up while Run is busy.
	publish(t, in.JS, evs[batch:])
	time.Sleep(10 * maxAhead)
	close(h.release)
	waitIdle(t, in.JS)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}

	order := inOrder(evs)
	written, unwritten := h.writes()
	t.Logf("writes: %v; asked what is unwritten: %v", written, unwritten)
	// Only a batch delivered before asks history what it holds already: none was.
	if len(unwritten) != 0 {
		t.Errorf("asked history what is unwritten of %v, want never: no batch was delivered twice", unwritten)
	}
	if info := consumerInfo(t, in.JS); info.NumRedelivered != 0 {
		t.Errorf("%d messages redelivered, want none", info.NumRedelivered)
	}
	if got := slices.Concat(written...); !slices.Equal(got, order) {
		t.Errorf("events written (each once, in stream order):\n got %v\nwant %v", got, order)
	}
	if got := ev.evaluated(); !slices.Equal(got, order) {
		t.Errorf("events evaluated (each once, in stream order):\n got %v\nwant %v", got, order)
	}
	if got := historyIDs(t, in); !slices.Equal(got, ids(evs)) {
		t.Errorf("event ids in history (no FINAL):\n got %v\nwant %v", got, ids(evs))
	}
	checkAlertsOnce(t, in, alertIDs(evs))
	checkDrained(t, in, uint64(len(evs)))
}
