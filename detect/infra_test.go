package detect_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/deploy"
	"breachd/detect"
	"breachd/directory"
	"breachd/event"
	"breachd/history"
	"breachd/rules"
)

// The tests run the detector on the real engines: embedded nats-server with JetStream and the
// embedded ClickHouse engine (chDB) behind clickhouse-go, each on a fresh temp directory.

func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// startInfra starts embedded NATS and ClickHouse on a temp dir; Close runs at cleanup.
func startInfra(tb testing.TB) *deploy.Infra {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, err := deploy.StartInfra(ctx, deploy.InfraConfig{DataDir: filepath.Join(tb.TempDir(), "data"), Logger: testLogger(tb)})
	if err != nil {
		tb.Fatalf("start infra (the embedded ClickHouse engine needs libchdb.so: run scripts/setup.sh, or set the path in the environment as history/chdb says): %v", err)
	}
	tb.Cleanup(in.Close)
	return in
}

// newDetector builds the detector as deploy does: the default rule pack on a fresh directory.
func newDetector(tb testing.TB, in *deploy.Infra, hist detect.History, opts detect.Options) *detect.Detector {
	tb.Helper()
	set, err := rules.Default()
	if err != nil {
		tb.Fatalf("default rule pack: %v", err)
	}
	dir := directory.New()
	if opts.Logger == nil {
		opts.Logger = testLogger(tb)
	}
	d, err := detect.New(in.JS, newEngine(tb, set, dir), dir, hist, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// run starts d.Run and returns a stop function that cancels it and returns Run's result.
func run(tb testing.TB, d *detect.Detector) (stop func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var stopped bool
	var result error
	stop = func() error {
		if stopped {
			return result
		}
		stopped = true
		cancel()
		select {
		case result = <-done:
		case <-time.After(2 * time.Minute):
			result = errors.New("Run did not return within 2 min of cancel")
		}
		return result
	}
	tb.Cleanup(func() { _ = stop() })
	return stop
}

// publish puts evs on EVENTS as ingest does (subject by kind and the account's partition in the
// layout the stream records, Nats-Msg-Id = event id) and waits for every PubAck.
func publish(tb testing.TB, js jetstream.JetStream, evs []*event.Event) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	layout, err := bus.ReadLayout(ctx, js)
	if err != nil {
		tb.Fatal(err)
	}
	pub := bus.NewPublisher(js)
	futures := make([]jetstream.PubAckFuture, 0, 1024)
	for _, e := range evs {
		data, err := event.Marshal(e)
		if err != nil {
			tb.Fatal(err)
		}
		f, err := pub.Publish(ctx, layout.EventSubject(e), e.ID, data, nil)
		if err != nil {
			tb.Fatal(err)
		}
		if futures = append(futures, f); len(futures) == cap(futures) {
			if _, err := bus.Wait(ctx, futures); err != nil {
				tb.Fatal(err)
			}
			futures = futures[:0]
		}
	}
	if _, err := bus.Wait(ctx, futures); err != nil {
		tb.Fatal(err)
	}
}

// soleDurable is the consumer of a detector running alone (member 0 of 1).
var soleDurable = detect.DurableName(0, 1)

// waitIdle waits until the detectors with the given durables (default: one alone) have acked
// everything of EVENTS they consume.
func waitIdle(tb testing.TB, js jetstream.JetStream, durables ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if len(durables) == 0 {
		durables = []string{soleDurable}
	}
	consumers := map[string]string{}
	for _, d := range durables {
		consumers[d] = bus.StreamEvents
	}
	if err := deploy.WaitIdle(ctx, js, 20*time.Millisecond, consumers); err != nil {
		tb.Fatalf("detectors %v did not drain EVENTS: %v", durables, err)
	}
}

func consumerInfo(tb testing.TB, js jetstream.JetStream) *jetstream.ConsumerInfo {
	tb.Helper()
	ctx := context.Background()
	c, err := js.Consumer(ctx, bus.StreamEvents, soleDurable)
	if err != nil {
		tb.Fatalf("detect consumer: %v", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		tb.Fatalf("detect consumer info: %v", err)
	}
	return info
}

func count(tb testing.TB, in *deploy.Infra, query string) uint64 {
	tb.Helper()
	var n uint64
	if err := in.History.Conn().QueryRow(context.Background(), query).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// eventRows counts event rows in the three event tables; final collapses rows of the same id.
func eventRows(tb testing.TB, in *deploy.Infra, final bool) uint64 {
	f := ""
	if final {
		f = " FINAL"
	}
	return count(tb, in, fmt.Sprintf("SELECT (SELECT count() FROM auth_events%[1]s) + (SELECT count() FROM access_events%[1]s) + (SELECT count() FROM directory_events%[1]s)", f))
}

// streamAlerts returns every message on the ALERTS stream.
func streamAlerts(tb testing.TB, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	tb.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			tb.Fatalf("alert %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// counter reads a counter from reg.
func counter(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	tb.Fatalf("metric %s not registered", name)
	return 0
}

// flakyHistory is the real store behind injected failures: the next failEvents WriteEvents
// calls and failAlerts WriteAlerts calls fail without touching the store; the next lostEvents
// WriteEvents calls store the rows and then fail, like an insert whose answer was lost. A
// failing WriteAlerts with hangAlerts set first waits for its context to end, like a write
// that times out. onFail runs on every injected failure, in the detector's goroutine, before
// it returns.
type flakyHistory struct {
	store                              *history.Store
	failEvents, failAlerts, lostEvents atomic.Int64
	hangAlerts                         bool
	onFail                             func(call string)
}

var errInjected = errors.New("injected history failure")

func (h *flakyHistory) WriteEvents(ctx context.Context, evs []*event.Event) error {
	if h.failEvents.Add(-1) >= 0 {
		h.failed("WriteEvents")
		return fmt.Errorf("write events: %w", errInjected)
	}
	if err := h.store.WriteEvents(ctx, evs); err != nil {
		return err
	}
	if h.lostEvents.Add(-1) >= 0 {
		h.failed("WriteEvents stored")
		return fmt.Errorf("write events: answer lost: %w", errInjected)
	}
	return nil
}

func (h *flakyHistory) Unwritten(ctx context.Context, evs []*event.Event) ([]*event.Event, error) {
	return h.store.Unwritten(ctx, evs)
}

func (h *flakyHistory) RecentAlerts(ctx context.Context, ruleIDs []string, since time.Time) ([]event.Alert, error) {
	return h.store.RecentAlerts(ctx, ruleIDs, since)
}

func (h *flakyHistory) AlertedEvents(ctx context.Context, alerts []event.Alert) (map[string]*event.Event, error) {
	return h.store.AlertedEvents(ctx, alerts)
}

func (h *flakyHistory) UnwrittenAlerts(ctx context.Context, alerts []event.Alert) ([]event.Alert, error) {
	return h.store.UnwrittenAlerts(ctx, alerts)
}

func (h *flakyHistory) WriteAlerts(ctx context.Context, alerts []event.Alert) error {
	if h.failAlerts.Add(-1) >= 0 {
		if h.hangAlerts {
			<-ctx.Done()
		}
		h.failed("WriteAlerts")
		return fmt.Errorf("write alerts: %w", errInjected)
	}
	return h.store.WriteAlerts(ctx, alerts)
}

func (h *flakyHistory) failed(call string) {
	if h.onFail != nil {
		h.onFail(call)
	}
}

// newEngine is rules.NewEngine for tests: a failure ends the test.
func newEngine(tb testing.TB, set *rules.Set, dir *directory.Directory) *rules.Engine {
	tb.Helper()
	eng, err := rules.NewEngine(set, dir, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return eng
}
