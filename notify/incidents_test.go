package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/event"
	"breachd/notify/channel"
	"breachd/retry"
)

func testIncidents(t testing.TB, js jetstream.JetStream, mirror Mirror, now time.Time) *Incidents {
	t.Helper()
	s, err := NewIncidents(context.Background(), js, IncidentsOptions{Mirror: mirror, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openWith records alert a through s and returns the incident it opened or changed.
func openWith(t *testing.T, s *Incidents, a *event.Alert) *event.Incident {
	t.Helper()
	res, err := s.recordAlert(context.Background(), a, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.change.Incident
}

// changesOf returns the INCIDENTS messages of incident id, in stream order.
func changesOf(t *testing.T, js jetstream.JetStream, id string) []*nats.Msg {
	t.Helper()
	var out []*nats.Msg
	for _, m := range changes(t, js) {
		if strings.HasPrefix(m.Header.Get(bus.HeaderMsgID), id+"-v") {
			out = append(out, m)
		}
	}
	return out
}

// TestLifecycleChangesOnIncidents: every change people make (what the CLI calls) is stored,
// mirrored and published once on INCIDENTS under its version, with its kind and actor.
func TestLifecycleChangesOnIncidents(t *testing.T) {
	js, _ := startJetStream(t)
	mirror := &fakeMirror{}
	s := testIncidents(t, js, mirror, t0.Add(time.Hour))
	ctx := context.Background()
	inc := openWith(t, s, alertFor(orgA, accA, "a1", "r1", event.SeverityHigh, "s1"))
	who := Edit{Actor: "kari", Comment: "called the school"}
	steps := []struct {
		kind string
		do   func() (*event.Incident, error)
	}{
		{ChangeAck, func() (*event.Incident, error) { return s.Ack(ctx, inc.ID, t0, who) }},
		{ChangeComment, func() (*event.Incident, error) { return s.Comment(ctx, inc.ID, 2, who) }},
		{ChangeTransition, func() (*event.Incident, error) { return s.Transition(ctx, inc.ID, event.StateInvestigating, who) }},
		{ChangeReport, func() (*event.Incident, error) {
			return s.SetReport(ctx, inc.ID, ReportChange{Measures: "password reset"}, who)
		}},
	}
	for i, st := range steps {
		got, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.kind, err)
		}
		if want := int64(i + 2); got.Version != want {
			t.Fatalf("%s: version %d, want %d", st.kind, got.Version, want)
		}
	}
	if _, err := s.Transition(ctx, inc.ID, event.StateRemediated, who); err == nil {
		t.Fatal("investigating → remediated was allowed")
	}
	msgs := changesOf(t, js, inc.ID)
	if len(msgs) != 1+len(steps) {
		t.Fatalf("%d changes on INCIDENTS, want %d", len(msgs), 1+len(steps))
	}
	if k := msgs[0].Header.Get(HeaderChange); k != ChangeOpened || msgs[0].Subject != bus.SubjectIncidents+".opened" {
		t.Errorf("first change: %s on %s", k, msgs[0].Subject)
	}
	for i, st := range steps {
		m := msgs[i+1]
		got := decodeIncident(t, m.Data)
		if m.Subject != bus.SubjectIncidents+".updated" || m.Header.Get(HeaderChange) != st.kind ||
			m.Header.Get(HeaderActor) != "kari" || m.Header.Get(bus.HeaderMsgID) != fmt.Sprintf("%s-v%d", inc.ID, i+2) ||
			got.Version != int64(i+2) {
			t.Errorf("change %d: %s %v, payload v%d; want %s by kari, v%d", i+2, m.Subject, m.Header, got.Version, st.kind, i+2)
		}
	}
	if vs := mirror.get(inc.ID); fmt.Sprint(vs) != "[1 2 3 4 5]" {
		t.Errorf("mirrored versions %v", vs)
	}
	// A person's transition is announced; their comments are not.
	ch, err := DecodeChange(msgs[3].Subject, msgs[3].Header, msgs[3].Data)
	if err != nil {
		t.Fatal(err)
	}
	if ms := Messages(ch); len(ms) != 1 || ms[0].Kind != channel.KindTransition || !strings.Contains(ms[0].Title, "by kari") {
		t.Errorf("transition messages: %+v", ms)
	}
	if ch, err = DecodeChange(msgs[2].Subject, msgs[2].Header, msgs[2].Data); err != nil || len(Messages(ch)) != 0 {
		t.Errorf("comment: %v, messages %+v", err, Messages(ch))
	}
}

// TestWatcherEscalatesOnceOnIncidents: two watchers (two processes' worth of connections)
// race over an incident 25 h after awareness; its 24 h escalation reaches INCIDENTS exactly
// once, also after further passes, and is announced as the deadline warning.
func TestWatcherEscalatesOnceOnIncidents(t *testing.T) {
	js, srv := startJetStream(t)
	inc := openWith(t, testIncidents(t, js, nil, t0), alertFor(orgA, accA, "a1", "r1", event.SeverityHigh, "s1"))
	later := t0.Add(25 * time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var watchers []*Watcher
	for range 2 {
		w, err := NewWatcher(ctx, testIncidents(t, connect(t, srv), nil, later),
			WatchOptions{Clock: func() time.Time { return later }, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		watchers = append(watchers, w)
	}
	for round := range 2 {
		var wg sync.WaitGroup
		for _, w := range watchers {
			wg.Go(func() {
				if err := w.Pass(ctx); err != nil {
					t.Errorf("round %d: pass: %v", round, err)
				}
			})
		}
		wg.Wait()
	}
	var escalations []*nats.Msg
	for _, m := range changesOf(t, js, inc.ID) {
		if m.Header.Get(HeaderChange) == ChangeEscalation {
			escalations = append(escalations, m)
		}
	}
	if len(escalations) != 1 {
		t.Fatalf("%d escalation changes on INCIDENTS, want 1", len(escalations))
	}
	m := escalations[0]
	got := decodeIncident(t, m.Data)
	if m.Header.Get(HeaderMark) != "24h" || m.Header.Get(bus.HeaderMsgID) != inc.ID+"-v2" || fmt.Sprint(got.Escalations) != "[24h]" {
		t.Errorf("escalation: headers %v, escalations %v", m.Header, got.Escalations)
	}
	ch, err := DecodeChange(m.Subject, m.Header, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if ms := Messages(ch); len(ms) != 1 || ms[0].Key != inc.ID+"/deadline-24h" {
		t.Errorf("escalation messages: %+v", ms)
	}
}

// TestWatcherIndex: a pass looks at the open incidents only, however many closed ones the
// bucket holds, and follows incidents being closed and opened.
func TestWatcherIndex(t *testing.T) {
	js, _ := startJetStream(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv, err := js.KeyValue(ctx, bus.BucketIncidents)
	if err != nil {
		t.Fatal(err)
	}
	const closed = 300
	for i := range closed {
		data, _ := json.Marshal(&event.Incident{ID: fmt.Sprintf("INC-closed-%d", i), State: event.StateClosed, Version: 1})
		if _, err := kv.Create(ctx, fmt.Sprintf("inc.INC-closed-%d", i), data); err != nil {
			t.Fatal(err)
		}
	}
	s := testIncidents(t, js, nil, t0)
	a := openWith(t, s, alertFor(orgA, accA, "a1", "r1", event.SeverityLow, ""))
	openWith(t, s, alertFor(orgB, accB, "b1", "r1", event.SeverityLow, ""))
	w, err := NewWatcher(ctx, s, WatchOptions{Clock: func() time.Time { return t0 }, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	pass := func(want int64) {
		t.Helper()
		before := w.seen.Load()
		if err := w.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		if got := w.seen.Load() - before; got != want {
			t.Errorf("a pass looked at %d incidents, want the %d open ones", got, want)
		}
	}
	pass(2)
	if _, err := s.Transition(ctx, a.ID, event.StateClosed, Edit{Actor: "kari", Comment: "a test account"}); err != nil {
		t.Fatal(err)
	}
	pass(1)
	openWith(t, s, alertFor(orgA, accA, "a2", "r1", event.SeverityLow, "")) // a new incident for A
	pass(2)
}

// stuckSink takes changes and never finishes one: it stands for a notifier that dies while
// delivering.
type stuckSink struct {
	name    string
	entered chan string
	kill    chan struct{}
}

func (s *stuckSink) Name() string { return s.name }

func (s *stuckSink) Notify(_ context.Context, c Change) error {
	s.entered <- c.Incident.ID
	<-s.kill
	return fmt.Errorf("killed")
}

// TestAnnouncerCrashLosesNoPage: the announcer of a webhook channel dies (its connection
// closes) while a change is in hand, and another change is made while no announcer runs.
// Both are delivered, once each, by the announcer started afterwards.
func TestAnnouncerCrashLosesNoPage(t *testing.T) {
	js, srv := startJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	keys := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p channel.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		keys[p.Key]++
		mu.Unlock()
	}))
	defer hook.Close()
	wh, err := channel.NewWebhook("soc", hook.URL, []byte("secret"), channel.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dedup, err := channel.EnsureBucket(ctx, js, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := channel.New(channel.Router{Default: []string{"soc"}}, []channel.Channel{wh}, channel.Options{KV: dedup, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	opts := AnnounceOptions{AckWait: time.Second, Logger: discard}

	// The first announcer takes the opening of A and dies with it in hand.
	nc1, js1, err := bus.Connect(srv.ClientURL(), "doomed", discard)
	if err != nil {
		t.Fatal(err)
	}
	stuck := &stuckSink{name: "soc", entered: make(chan string, 1), kill: make(chan struct{})}
	doomed, err := NewAnnouncer(ctx, js1, stuck, opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- doomed.Run(ctx) }()
	s := testIncidents(t, js, nil, t0)
	a := openWith(t, s, alertFor(orgA, accA, "a1", "r1", event.SeverityHigh, "s1"))
	select {
	case id := <-stuck.entered:
		if id != a.ID {
			t.Fatalf("the doomed announcer got %s, want %s", id, a.ID)
		}
	case <-ctx.Done():
		t.Fatal("the doomed announcer got no change")
	}
	nc1.Close()
	close(stuck.kill)
	if err := <-done; err == nil {
		t.Error("the announcer of a closed connection returned nil")
	}

	// B opens while no announcer runs.
	b := openWith(t, s, alertFor(orgB, accB, "b1", "r1", event.SeverityHigh, ""))

	sinks := ChannelSinks(d)
	if len(sinks) != 1 || sinks[0].Name() != "soc" {
		t.Fatalf("channel sinks: %v", sinks)
	}
	next, err := NewAnnouncer(ctx, connect(t, srv), sinks[0], opts)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	go func() { done <- next.Run(rctx) }()
	want := map[string]int{a.ID + "/opened": 1, b.ID + "/opened": 1}
	waitFor(t, "both pages delivered", func() (bool, string) {
		ok, state := drained(js, bus.StreamIncidents, AnnouncerName("soc"))
		mu.Lock()
		defer mu.Unlock()
		return ok && fmt.Sprint(keys) == fmt.Sprint(want), fmt.Sprintf("%s; delivered %v", state, keys)
	})
	stop()
	if err := <-done; err != nil {
		t.Errorf("announcer: %v", err)
	}
}

// downMirror is a history that is down.
type downMirror struct{}

func (downMirror) UpsertIncident(context.Context, *event.Incident) error {
	return fmt.Errorf("history unavailable")
}

// TestWatcherRepairsLostPublications: a deadline warning and a person's state change that
// were stored but not published (the history was down after the compare-and-set; a crash
// there is the same) reach INCIDENTS through the next watcher pass, once.
func TestWatcherRepairsLostPublications(t *testing.T) {
	js, _ := startJetStream(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	later := t0.Add(25 * time.Hour)
	good := testIncidents(t, js, &fakeMirror{}, later)
	a := openWith(t, good, alertFor(orgA, accA, "a1", "r1", event.SeverityHigh, "s1"))
	b := openWith(t, good, alertFor(orgB, accB, "b1", "r1", event.SeverityHigh, "s1"))
	if _, err := good.Transition(ctx, b.ID, event.StateReported, Edit{Actor: "kari"}); err != nil {
		t.Fatal(err)
	}
	down := testIncidents(t, js, downMirror{}, later)
	if _, err := down.MarkEscalated(ctx, a.ID, "24h"); err == nil || !strings.Contains(err.Error(), "is stored") {
		t.Fatalf("escalation with the history down: %v", err)
	}
	if _, err := down.Transition(ctx, b.ID, event.StateRemediated, Edit{Actor: "kari"}); err == nil {
		t.Fatal("transition with the history down: no error")
	}
	count := func(id, kind string) (n int, last *nats.Msg) {
		for _, m := range changesOf(t, js, id) {
			if m.Header.Get(HeaderChange) == kind {
				n, last = n+1, m
			}
		}
		return n, last
	}
	if n, _ := count(a.ID, ChangeEscalation); n != 0 {
		t.Fatalf("%d escalations published before the repair", n)
	}
	w, err := NewWatcher(ctx, good, WatchOptions{Clock: func() time.Time { return later.Add(time.Minute) }, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := w.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, m := count(a.ID, ChangeEscalation); n != 1 || m.Header.Get(HeaderMark) != "24h" || m.Header.Get(bus.HeaderMsgID) != a.ID+"-v2" {
		t.Errorf("A: %d escalations on INCIDENTS, want one for 24h at v2", n)
	}
	if n, m := count(b.ID, ChangeTransition); n != 2 || m.Header.Get(HeaderActor) != "kari" || decodeIncident(t, m.Data).State != event.StateRemediated {
		t.Errorf("B: %d transitions on INCIDENTS, want reported and remediated, the last by kari", n)
	}
}

// TestAnnouncerRetriesFailures: a change whose delivery fails is redelivered until the channel
// takes it, and delivered once; one the channel rejects for good is dropped, not retried.
func TestAnnouncerRetriesFailures(t *testing.T) {
	js, _ := startJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	calls := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p channel.WebhookPayload
		_ = json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		defer mu.Unlock()
		calls[p.Key]++
		switch {
		case p.Incident != nil && p.Incident.Account == accB:
			http.Error(w, "no such room", http.StatusBadRequest) // permanent
		case calls[p.Key] <= 2:
			http.Error(w, "busy", http.StatusServiceUnavailable) // transient
		}
	}))
	defer hook.Close()
	wh, err := channel.NewWebhook("soc", hook.URL, []byte("secret"), channel.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dedup, err := channel.EnsureBucket(ctx, js, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := channel.New(channel.Router{Default: []string{"soc"}}, []channel.Channel{wh},
		channel.Options{KV: dedup, Logger: discard, Retry: channel.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ann, err := NewAnnouncer(ctx, js, ChannelSinks(d)[0], AnnounceOptions{Logger: discard,
		Backoff: retry.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ann.Run(rctx) }()
	s := testIncidents(t, js, nil, t0)
	a := openWith(t, s, alertFor(orgA, accA, "a1", "r1", event.SeverityHigh, "s1"))
	b := openWith(t, s, alertFor(orgB, accB, "b1", "r1", event.SeverityHigh, "s1"))
	want := map[string]int{a.ID + "/opened": 3, b.ID + "/opened": 1}
	waitFor(t, "A delivered on the third try, B dropped", func() (bool, string) {
		ok, state := drained(js, bus.StreamIncidents, AnnouncerName("soc"))
		mu.Lock()
		defer mu.Unlock()
		return ok && fmt.Sprint(calls) == fmt.Sprint(want), fmt.Sprintf("%s; calls %v", state, calls)
	})
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("calls %v, want %v", calls, want)
	}
}
