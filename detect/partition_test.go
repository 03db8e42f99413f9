package detect_test

import (
	"context"
	"fmt"
	"maps"
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
	"breachd/ingest"
	"breachd/rules"
	"breachd/simulate"
)

// member is one detector of a set, with its own directory and engine (as a separate process
// would have), instrumented: which events it evaluated, which directory events it applied,
// which alerts it wrote.
type member struct {
	det  *detect.Detector
	eval *countingEval
	cat  *countingCatalogue
	hist *recordingHistory
	reg  *prometheus.Registry
}

// countingEval is the rules engine (so it keeps Warm and MaxWindow) counting Evaluate per event.
type countingEval struct {
	*rules.Engine
	mu sync.Mutex
	n  map[string]int
}

func (c *countingEval) Evaluate(ctx context.Context, e *event.Event) []event.Alert {
	c.mu.Lock()
	c.n[e.ID]++
	c.mu.Unlock()
	return c.Engine.Evaluate(ctx, e)
}

func (c *countingEval) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

type countingCatalogue struct {
	*directory.Directory
	mu sync.Mutex
	n  int
}

func (c *countingCatalogue) Apply(e *event.Event) error {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.Directory.Apply(e)
}

// recordingHistory writes to the real store and remembers the alerts it wrote.
type recordingHistory struct {
	detect.History
	mu     sync.Mutex
	alerts map[string]event.Alert
}

func (h *recordingHistory) WriteAlerts(ctx context.Context, alerts []event.Alert) error {
	if err := h.History.WriteAlerts(ctx, alerts); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range alerts {
		h.alerts[a.ID] = a
	}
	return nil
}

func newMember(tb testing.TB, in *deploy.Infra, i, n int, opts detect.Options) *member {
	tb.Helper()
	set, err := rules.Default()
	if err != nil {
		tb.Fatal(err)
	}
	dir := directory.New()
	m := &member{
		eval: &countingEval{Engine: newEngine(tb, set, dir), n: map[string]int{}},
		cat:  &countingCatalogue{Directory: dir},
		hist: &recordingHistory{History: in.History, alerts: map[string]event.Alert{}},
		reg:  prometheus.NewRegistry(),
	}
	opts.Member, opts.Members, opts.Registerer = i, n, m.reg
	if opts.Logger == nil {
		opts.Logger = testLogger(tb).With("member", i)
	}
	det, err := detect.New(in.JS, m.eval, m.cat, m.hist, opts)
	if err != nil {
		tb.Fatal(err)
	}
	m.det = det
	return m
}

// ingestAll feeds evs through the real ingest pipeline (marshal, parse, validate, publish on
// the partition subjects of the stream's layout).
func ingestAll(tb testing.TB, in *deploy.Infra, evs []*event.Event) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	layout, err := bus.ReadLayout(ctx, in.JS)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := ingest.NewPipeline(bus.NewPublisher(in.JS), layout, testLogger(tb), nil)
	if err != nil {
		tb.Fatal(err)
	}
	for batch := range slices.Chunk(evs, 1000) {
		recs := make([]ingest.Record, len(batch))
		for i, e := range batch {
			data, err := event.Marshal(e)
			if err != nil {
				tb.Fatal(err)
			}
			recs[i] = ingest.Record{Data: data, Where: e.ID}
		}
		res, err := p.Submit(ctx, ingest.Batch{Source: "test", Records: recs})
		if err != nil || res.Accepted != len(recs) {
			tb.Fatalf("ingest: %+v, %v", res, err)
		}
	}
}

// oneDetector returns the alerts of a single engine evaluating evs in order, applying the
// directory events first: what one detector raises on the same stream.
func oneDetector(tb testing.TB, evs []*event.Event) map[string]event.Alert {
	tb.Helper()
	set, err := rules.Default()
	if err != nil {
		tb.Fatal(err)
	}
	dir := directory.New()
	eng := newEngine(tb, set, dir)
	out := map[string]event.Alert{}
	for _, e := range evs {
		if e.Kind == event.KindDirectory {
			if err := dir.Apply(e); err != nil {
				tb.Fatal(err)
			}
		}
		for _, a := range eng.Evaluate(context.Background(), e) {
			out[a.ID] = a
		}
	}
	return out
}

// TestTwoDetectorsPartitionTheStream runs a simulated day (two organisations) through ingest
// into a stream of 8 partitions and two detectors, members 0 and 1 of 2, each with its own
// directory and engine: every event is evaluated by exactly one of them (the owner of its
// account's partition), every directory event is applied by both, history holds every event
// once, and the alerts are exactly those of one detector on the same input — the simulator's
// breaches, credential stuffing's window of 20+ failures included, which all land on one member.
func TestTwoDetectorsPartitionTheStream(t *testing.T) {
	cfg := simulate.Defaults()
	cfg.Orgs = 2
	gen, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	evs := generate(t, cfg)
	in := startInfra(t)
	layout, err := bus.ReadLayout(context.Background(), in.JS)
	if err != nil || layout.Partitions != 8 {
		t.Fatalf("layout %+v, %v; want 8 partitions", layout, err)
	}
	ingestAll(t, in, evs)
	want := oneDetector(t, evs)

	members := []*member{newMember(t, in, 0, 2, detect.Options{}), newMember(t, in, 1, 2, detect.Options{})}
	var stops []func() error
	for _, m := range members {
		stops = append(stops, run(t, m.det))
	}
	waitIdle(t, in.JS, detect.DurableName(0, 2), detect.DurableName(1, 2))
	for i, stop := range stops {
		if err := stop(); err != nil {
			t.Fatalf("member %d: Run = %v", i, err)
		}
	}

	owner := func(e *event.Event) int { return layout.Partition(e.Account()) % 2 }
	var activity, dirEvents uint64
	evaluated := [2]int{}
	for _, e := range evs {
		got := [2]int{members[0].eval.count(e.ID), members[1].eval.count(e.ID)}
		var wantN [2]int
		wantN[owner(e)] = 1
		if got != wantN {
			t.Errorf("%s event %s of %s (partition %d): evaluated %v times by members 0, 1; want %v",
				e.Kind, e.ID, e.Account(), layout.Partition(e.Account()), got, wantN)
		}
		evaluated[0] += got[0]
		evaluated[1] += got[1]
		if e.Kind == event.KindDirectory {
			dirEvents++
		} else {
			activity++
		}
	}
	if evaluated[0] == 0 || evaluated[1] == 0 {
		t.Errorf("evaluations per member %v: one member did all the work", evaluated)
	}
	t.Logf("%d events: member 0 evaluated %d, member 1 %d", len(evs), evaluated[0], evaluated[1])
	for i, m := range members {
		if m.cat.n != int(dirEvents) {
			t.Errorf("member %d applied %d directory events, want all %d", i, m.cat.n, dirEvents)
		}
	}

	// History: each event once (no FINAL: not even a transient duplicate); a directory event is
	// stored by the member owning its account only, though both apply it.
	if n := count(t, in, "SELECT (SELECT count() FROM auth_events) + (SELECT count() FROM access_events)"); n != activity {
		t.Errorf("activity rows in history = %d, want %d (each exactly once)", n, activity)
	}
	if n := count(t, in, "SELECT count() FROM directory_events"); n != dirEvents {
		t.Errorf("directory rows in history = %d (no FINAL), want %d (each exactly once)", n, dirEvents)
	}

	// Alerts: those of one detector, each raised by the member owning its account.
	got := map[string]event.Alert{}
	for i, m := range members {
		for id, a := range m.hist.alerts {
			got[id] = a
			if o := layout.Partition(a.Account) % 2; o != i {
				t.Errorf("alert %s (%s for %s) raised by member %d, its account belongs to member %d", id, a.RuleID, a.Account, i, o)
			}
		}
	}
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Errorf("alerts of two detectors:\n %v\nof one detector:\n %v", describe(got), describe(want))
	}
	if n := count(t, in, "SELECT count() FROM alerts FINAL"); n != uint64(len(want)) {
		t.Errorf("alerts in history = %d, want %d", n, len(want))
	}
	if n := len(streamAlerts(t, in.JS)); n != len(want) {
		t.Errorf("alerts on ALERTS = %d, want %d", n, len(want))
	}
	var wantAccounts, gotAccounts []string
	for _, b := range gen.Breaches() {
		wantAccounts = append(wantAccounts, b.Account)
	}
	for _, a := range got {
		gotAccounts = append(gotAccounts, a.Account)
	}
	slices.Sort(wantAccounts)
	slices.Sort(gotAccounts)
	if wantAccounts, gotAccounts = slices.Compact(wantAccounts), slices.Compact(gotAccounts); !slices.Equal(gotAccounts, wantAccounts) {
		t.Errorf("accounts with alerts %v, want the breach accounts %v", gotAccounts, wantAccounts)
	}

	checkCredentialStuffing(t, gen, evs, layout, members)
}

// checkCredentialStuffing: the window rule's 20+ failures of one account all went to the
// member owning the account's partition, and that member raised the alert.
func checkCredentialStuffing(t *testing.T, gen *simulate.Generator, evs []*event.Event, layout bus.Layout, members []*member) {
	t.Helper()
	var acct string
	for _, b := range gen.Breaches() {
		if b.Scenario == simulate.ScenarioCredentialStuffing {
			acct = b.Account
		}
	}
	p := layout.Partition(acct)
	o := members[p%2]
	failures := 0
	for _, e := range evs {
		if e.Kind != event.KindAuth || e.User != acct {
			continue
		}
		if e.Result == "failure" {
			failures++
		}
		if s := layout.EventSubject(e); s != bus.PartitionSubject(event.KindAuth, p) {
			t.Errorf("%s published on %s, want partition %d", e.ID, s, p)
		}
		if o.eval.count(e.ID) != 1 || members[1-p%2].eval.count(e.ID) != 0 {
			t.Errorf("%s of %s not evaluated by its owner, member %d, alone", e.ID, acct, p%2)
		}
	}
	if failures < 20 {
		t.Fatalf("the simulated burst has %d failures, want at least 20", failures)
	}
	fired := false
	for _, a := range o.hist.alerts {
		fired = fired || (a.RuleID == "credential-stuffing" && a.Account == acct)
	}
	if !fired {
		t.Errorf("member %d (partition %d of %s, %d failures) raised no credential-stuffing alert", p%2, p, acct, failures)
	}
	t.Logf("credential stuffing: %s, %d failures, partition %d, member %d", acct, failures, p, p%2)
}

func describe(alerts map[string]event.Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, fmt.Sprintf("%s/%s", a.RuleID, a.Account))
	}
	slices.Sort(out)
	return out
}
