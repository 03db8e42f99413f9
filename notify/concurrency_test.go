package notify

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/event"
)

func TestNotifiersRace(t *testing.T) {
	js, srv := startJetStream(t)
	mirror := &fakeMirror{}
	console := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	var stops []func()
	var notifiers []*Notifier
	for range 2 {
		n, err := New(connect(t, srv), Options{
			Mirror: mirror, Logger: discard, Batch: 2, Registerer: reg,
		})
		if err != nil {
			t.Fatal(err)
		}
		notifiers = append(notifiers, n)
	}

	stopConsole := announce(t, js, NewConsoleSink(console), reg)
	const alerts = 40
	for i := range alerts {
		a := alertFor(orgA, accA, fmt.Sprintf("x%02d", i), fmt.Sprintf("r%d", i%4), event.SeverityMedium, "")
		publishAlert(t, js, a, a.ID)
		if i%5 == 0 {
			publishAlert(t, js, a, a.ID+"-again")
		}
	}
	for _, n := range notifiers {
		stops = append(stops, runNotifier(t, n))
	}
	waitFor(t, "all alerts handled", func() (bool, string) { return drained(js, bus.StreamAlerts, DefaultDurable) })
	for _, stop := range stops {
		stop()
	}
	waitFor(t, "all changes announced", func() (bool, string) {
		return drained(js, bus.StreamIncidents, AnnouncerName("console"))
	})
	stopConsole()
	t.Logf("compare-and-set conflicts: %v", counters(t, reg)["breach_notify_cas_conflicts_total"])

	all, err := testStore(t, js).List(context.Background())
	if err != nil || len(all) != 1 {
		t.Fatalf("List: %d incidents, %v; want 1", len(all), err)
	}
	inc := all[0]
	if inc.AlertCount != alerts || inc.Version != alerts || inc.Rules["r0"] != alerts/4 {
		t.Errorf("count %d version %d rules %v", inc.AlertCount, inc.Version, inc.Rules)
	}
	msgs := changes(t, js)
	ids := map[string]bool{}
	opened := 0
	for _, m := range msgs {
		ids[m.Header.Get(bus.HeaderMsgID)] = true
		if m.Subject == bus.SubjectIncidents+"."+ChangeOpened {
			opened++
		}
	}
	if len(msgs) != alerts || len(ids) != alerts || opened != 1 {
		t.Errorf("%d change messages, %d distinct, %d opened; want %d, %d, 1", len(msgs), len(ids), opened, alerts, alerts)
	}
	if got := console.lines(" opened "); len(got) != 1 {
		t.Errorf("opened lines: %q", got)
	}
	if vs := mirror.get(inc.ID); len(vs) < alerts || slices.Max(vs) != alerts {
		t.Errorf("mirrored versions %v", vs)
	}
}

// blockingMirror blocks its first upsert until release is closed.
type blockingMirror struct {
	fakeMirror
	entered, release chan struct{}
	once             bool
}

func (m *blockingMirror) UpsertIncident(ctx context.Context, inc *event.Incident) error {
	m.mu.Lock()
	first := !m.once
	m.once = true
	m.mu.Unlock()
	if first {
		close(m.entered)
		<-m.release
	}
	return m.fakeMirror.UpsertIncident(ctx, inc)
}

// TestNotifierShutdown cancels Run while an alert is in hand: the whole pull in hand is finished
// (stored, mirrored, published, acked) before Run returns, so nothing is left delivered but
// unsettled, and a second notifier finds nothing to redo.
func TestNotifierShutdown(t *testing.T) {
	js, _ := startJetStream(t)
	mirror := &blockingMirror{entered: make(chan struct{}), release: make(chan struct{})}
	const alerts = 5
	for i := range alerts {
		a := alertFor(orgA, accA, fmt.Sprintf("s%d", i), "r", event.SeverityLow, "")
		publishAlert(t, js, a, a.ID)
	}
	first, err := New(js, Options{Mirror: mirror, Logger: discard, Batch: alerts})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()
	<-mirror.entered
	cancel() // while the first alert is in the mirror
	close(mirror.release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}

	s := testStore(t, js)
	inc, err := s.OpenFor(context.Background(), orgA, accA)
	if err != nil {
		t.Fatal(err)
	}
	if inc.AlertCount != alerts || len(changes(t, js)) != alerts {
		t.Fatalf("after shutdown: %d alerts, %d changes; want the whole pull in hand (%d), finished", inc.AlertCount, len(changes(t, js)), alerts)
	}
	if ok, why := drained(js, bus.StreamAlerts, DefaultDurable); !ok {
		t.Fatalf("after shutdown the consumer is not settled: %s", why)
	}

	second, err := New(js, Options{Mirror: mirror, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	stop := runNotifier(t, second)
	waitFor(t, "all alerts handled", func() (bool, string) { return drained(js, bus.StreamAlerts, DefaultDurable) })
	stop()
	if inc, err = s.OpenFor(context.Background(), orgA, accA); err != nil || inc.AlertCount != alerts {
		t.Fatalf("after restart: %+v %v", inc, err)
	}
	if vs := mirror.get(inc.ID); !slices.Equal(vs, []int64{1, 2, 3, 4, 5}) {
		t.Errorf("mirrored versions %v", vs)
	}
}
