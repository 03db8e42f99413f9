package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/event"
)

// fakeMirror records the versions it was given per incident; its first upsert for failAccount
// fails.
type fakeMirror struct {
	mu          sync.Mutex
	failAccount string
	failed      bool
	versions    map[string][]int64
}

func (m *fakeMirror) UpsertIncident(_ context.Context, inc *event.Incident) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if inc.Account == m.failAccount && !m.failed {
		m.failed = true
		return errors.New("history unavailable")
	}
	if m.versions == nil {
		m.versions = map[string][]int64{}
	}
	m.versions[inc.ID] = append(m.versions[inc.ID], inc.Version)
	return nil
}

func (m *fakeMirror) get(id string) []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.versions[id])
}

func publishAlert(t *testing.T, js jetstream.JetStream, a *event.Alert, msgID string) {
	t.Helper()
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	publishRaw(t, js, bus.AlertSubject(a.Severity), msgID, data)
}

func publishRaw(t *testing.T, js jetstream.JetStream, subject, msgID string, data []byte) {
	t.Helper()
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{bus.HeaderMsgID: {msgID}}}
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatalf("publish %s: %v", msgID, err)
	}
}

// alertFor makes an alert of account in org.
func alertFor(org, account, id, rule string, sev event.Severity, subject string) *event.Alert {
	a := testAlert(id, rule, sev)
	a.Org, a.Account, a.Subject = org, account, subject
	return a
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// drained reports whether the durable has delivered and settled every message of stream.
func drained(js jetstream.JetStream, stream, durable string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return false, err.Error()
	}
	info, err := c.Info(ctx)
	if err != nil {
		return false, err.Error()
	}
	// NumPending alone can read 0 right after the consumer is created, before the server has
	// counted the stream: also require the ack floor at the stream's last message.
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return false, err.Error()
	}
	si, err := s.Info(ctx)
	if err != nil {
		return false, err.Error()
	}
	return info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream >= si.State.LastSeq,
		fmt.Sprintf("pending %d, ack pending %d, ack floor %d of %d", info.NumPending, info.NumAckPending, info.AckFloor.Stream, si.State.LastSeq)
}

// runNotifier runs n until the returned stop is called; stop fails the test unless Run
// returned nil.
func runNotifier(t *testing.T, n *Notifier) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
}

// announce runs an Announcer for sink on js until the returned stop is called.
func announce(t *testing.T, js jetstream.JetStream, sink Sink, reg prometheus.Registerer) (stop func()) {
	t.Helper()
	a, err := NewAnnouncer(context.Background(), js, sink, AnnounceOptions{Logger: discard, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("announcer Run: %v", err)
		}
	}
}

const (
	orgA, accA = "bergen.kommune.no", "ola@bergen.kommune.no"
	orgB, accB = "oslo.kommune.no", "kari@oslo.kommune.no"
)

func TestNotifier(t *testing.T) {
	js, _ := startJetStream(t)
	mirror := &fakeMirror{failAccount: accB} // B's opening hand-off fails once
	console := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	n, err := New(js, Options{
		Mirror: mirror, Clock: func() time.Time { return t0 }, Logger: discard, Batch: 4, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopConsole := announce(t, js, NewConsoleSink(console), reg)

	a2 := alertFor(orgA, accA, "a2", "r2", event.SeverityHigh, "s2")
	a2.Respond = true
	for _, p := range []struct {
		a     *event.Alert
		msgID string
	}{
		{alertFor(orgA, accA, "a1", "r1", event.SeverityMedium, "s1"), "a1"},
		{alertFor(orgB, accB, "b1", "r3", event.SeverityLow, ""), "b1"},
		{a2, "a2"},
		{alertFor(orgB, accB, "b2", "r3", event.SeverityLow, "s9"), "b2"},
		{a2, "a2-again"}, // the same alert under another message id: JetStream keeps both
		{alertFor(orgA, accA, "a3", "r1", event.SeverityCritical, "s1"), "a3"},
		{alertFor(orgB, accB, "b3", "r4", event.SeverityHigh, "s9"), "b3"},
		{a2, "a2-third"},
		{alertFor(orgB, accB, "b4", "r3", event.SeverityMedium, "s8"), "b4"},
	} {
		publishAlert(t, js, p.a, p.msgID)
	}
	publishRaw(t, js, bus.AlertSubject(event.SeverityHigh), "junk", []byte("not an alert"))

	stop := runNotifier(t, n)
	waitFor(t, "all alerts handled", func() (bool, string) {
		ok, state := drained(js, bus.StreamAlerts, DefaultDurable)
		return ok && len(changes(t, js)) >= 7, state
	})
	stop()
	waitFor(t, "all changes announced", func() (bool, string) {
		return drained(js, bus.StreamIncidents, AnnouncerName("console"))
	})
	stopConsole()

	s := testStore(t, js)
	ctx := context.Background()
	all, err := s.List(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("List: %d incidents, %v; want 2", len(all), err)
	}
	incA, err := s.OpenFor(ctx, orgA, accA)
	if err != nil {
		t.Fatal(err)
	}
	incB, err := s.OpenFor(ctx, orgB, accB)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		inc      *event.Incident
		count    int64
		rules    string
		severity event.Severity
		subjects string
		respond  bool
	}{
		{incA, 3, "map[r1:2 r2:1]", event.SeverityCritical, "[s1 s2]", true},
		{incB, 4, "map[r3:3 r4:1]", event.SeverityHigh, "[s8 s9]", false},
	} {
		inc := tc.inc
		if inc.AlertCount != tc.count || inc.Version != tc.count || fmt.Sprint(inc.Rules) != tc.rules ||
			inc.Severity != tc.severity || fmt.Sprint(inc.Subjects) != tc.subjects ||
			inc.RespondRequested != tc.respond || inc.State != event.StateDetected {
			t.Errorf("%s: count %d version %d rules %v severity %s subjects %v respond %v state %s",
				inc.Account, inc.AlertCount, inc.Version, inc.Rules, inc.Severity, inc.Subjects,
				inc.RespondRequested, inc.State)
		}
		if !inc.Opened.Equal(t0) || !inc.Aware.Equal(t0) || !inc.Deadline.Equal(inc.Aware.Add(72*time.Hour)) {
			t.Errorf("%s: opened %v aware %v deadline %v", inc.ID, inc.Opened, inc.Aware, inc.Deadline)
		}
		// The mirror saw the versions in order and ends at the stored one.
		vs := mirror.get(inc.ID)
		if !slices.IsSorted(vs) || len(vs) == 0 || vs[len(vs)-1] != inc.Version {
			t.Errorf("%s: mirrored versions %v, stored %d", inc.ID, vs, inc.Version)
		}
	}
	if vs := mirror.get(incA.ID); !slices.Contains(vs, 1) || !slices.Contains(vs, 2) {
		t.Errorf("A mirrored versions %v", vs)
	}
	var texts []string
	for _, e := range incA.Timeline {
		texts = append(texts, e.Kind+": "+e.Text)
	}
	if !slices.ContainsFunc(texts, func(s string) bool { return strings.HasPrefix(s, "action: deactivation requested") }) {
		t.Errorf("A timeline lacks the deactivation request: %q", texts)
	}

	// One change message per version an alert produced, none twice, opened only for v1.
	seen := map[string]bool{}
	for _, m := range changes(t, js) {
		id := m.Header.Get(bus.HeaderMsgID)
		inc := decodeIncident(t, m.Data)
		if seen[id] {
			t.Errorf("change %s published twice", id)
		}
		seen[id] = true
		opened := strings.HasSuffix(id, "-v1")
		if want := bus.SubjectIncidents + "." + map[bool]string{true: ChangeOpened, false: ChangeUpdated}[opened]; m.Subject != want {
			t.Errorf("change %s on %s, want %s", id, m.Subject, want)
		}
		var v int64
		if _, err := fmt.Sscanf(id[strings.LastIndex(id, "-v"):], "-v%d", &v); err != nil || inc.Version < v {
			t.Errorf("change %s carries version %d", id, inc.Version)
		}
	}
	var want []string
	for v := 1; v <= 3; v++ {
		want = append(want, fmt.Sprintf("%s-v%d", incA.ID, v))
	}
	for v := 1; v <= 4; v++ {
		want = append(want, fmt.Sprintf("%s-v%d", incB.ID, v))
	}
	for _, id := range want {
		if !seen[id] {
			t.Errorf("change %s missing", id)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d changes, want %d", len(seen), len(want))
	}

	// Console: one opened line per incident, one line per severity rise, one deactivation request.
	for _, inc := range []*event.Incident{incA, incB} {
		if got := console.lines("INCIDENT " + inc.ID + " opened "); len(got) != 1 {
			t.Errorf("opened lines for %s: %q", inc.ID, got)
		}
	}
	if got := console.lines(" escalated "); len(got) != 3 {
		t.Errorf("escalation lines: %q", got)
	}
	if got := console.lines("deactivation requested"); len(got) != 1 || !strings.Contains(got[0], incA.ID) {
		t.Errorf("deactivation lines: %q", got)
	}
	if got := console.lines("opened  medium  " + orgA + "  " + accA + "  rule=r1  \"summary of a1\"  deadline 2026-11-05T08:01Z"); len(got) != 1 {
		t.Errorf("A's opened line not as expected:\n%s", console.lines("")[0])
	}

	// Metrics, as the registry exposes them.
	got := counters(t, reg)
	for series, want := range map[string]float64{
		"breach_notify_alerts_total{result=opened}":    1,
		"breach_notify_alerts_total{result=updated}":   5,
		"breach_notify_alerts_total{result=duplicate}": 3,
		"breach_notify_alerts_total{result=invalid}":   1,
		"breach_notify_alerts_total{result=retry}":     1,
		"breach_notify_incidents_opened_total":         2,
		"breach_notify_sink_errors_total":              0,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
}

// counters gathers reg into "name{label=value,...}" → value.
func counters(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			name := mf.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			out[name] = m.GetCounter().GetValue()
		}
	}
	return out
}
