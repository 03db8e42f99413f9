package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"breachd/bus"
	"breachd/event"
	"breachd/history"
	"breachd/ingest"
	"breachd/ingest/file"
	"breachd/notify"
	"breachd/notify/channel"
	"breachd/respond"
	"breachd/respond/scim/scimtest"
	"breachd/simulate"
)

// fakeClock is a wall clock that the test can move forward.
type fakeClock struct{ offset atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// TestIncidentsThroughPipeline runs a simulated day with injected breaches through the real
// pipeline with deactivation through a SCIM server, the notification channels on NATS and the
// incident watcher, on an injected clock:
//   - the allow-listed account is never deactivated (refused, no SCIM call);
//   - the per-org cap of 1 lets one deactivation through and holds the next for approval;
//   - the one let through is deactivated with exactly one PATCH, also after every alert is
//     redelivered to a restarted notifier;
//   - every incident has its evidence, with the counts history gives and a verifying hash;
//   - 25 hours later every unreported incident gets its 24 h deadline warning, exactly once.
func TestIncidentsThroughPipeline(t *testing.T) {
	dir := t.TempDir()
	path, _, gen := writeSimulation(t, dir)
	breaches := map[string]simulate.Breach{}
	var names []string
	for _, b := range gen.Breaches() {
		breaches[b.Scenario] = b
		names = append(names, b.Account)
	}
	guardian, stuffed, pupil := breaches[simulate.ScenarioBlockedGuardian], breaches[simulate.ScenarioCredentialStuffing], breaches[simulate.ScenarioPupilAsTeacher]
	if guardian.Account == "" || stuffed.Account == "" || pupil.Account == "" || guardian.Org != stuffed.Org || stuffed.Org != pupil.Org {
		t.Fatalf("the simulation lacks the three breaches with deactivation in one org: %+v", breaches)
	}
	srv := scimtest.Start(t, names...)
	t.Setenv("TEST_SCIM_TOKEN", srv.Token)
	rc := &RespondConfig{adapterConfig: adapterConfig{Adapter: "scim", SCIM: &scimConfig{BaseURL: srv.URL, TokenEnv: "TEST_SCIM_TOKEN"}},
		AllowList: []string{guardian.Account}, MaxPerHour: 1}
	notifications := filepath.Join(dir, "notifications.yaml")
	if err := os.WriteFile(notifications, []byte("channels:\n  - name: bus\n    nats: {}\ndefault: {channels: [bus]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	in := startTestInfra(t, filepath.Join(dir, "data"))
	defer in.Close()
	clock := &fakeClock{}
	ctx := context.Background()
	run := func(onIdle func(context.Context)) {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		err := RunPipeline(rctx, in, PipelineConfig{
			Sources: []ingest.Source{file.New([]string{path}, file.Options{Logger: testLogger(t)})}, ExitWhenDone: true,
			Respond: rc, Notifications: notifications, Watch: notify.WatchOptions{Interval: 100 * time.Millisecond},
			Clock: clock.Now, Logger: testLogger(t), OnIdle: onIdle,
		})
		if err != nil || rctx.Err() != nil {
			t.Fatalf("pipeline: %v (ctx %v)", err, rctx.Err())
		}
	}
	deadlineWarnings := func() map[string]int {
		got := map[string]int{}
		s, err := in.JS.Stream(ctx, channel.StreamNotifications)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject == channel.SubjectNotifications+"."+channel.DeadlineKind(24*time.Hour) {
				var msg struct {
					Incident *event.Incident `json:"incident"`
				}
				if err := json.Unmarshal(m.Data, &msg); err != nil || msg.Incident == nil {
					t.Fatalf("deadline warning %d: %v: %s", seq, err, m.Data)
				}
				got[msg.Incident.ID]++
			}
		}
		return got
	}
	// After the day is processed, the clock jumps 25 h; the watcher must warn about every
	// incident before the pipeline stops.
	run(func(ctx context.Context) {
		clock.Advance(25 * time.Hour)
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end) && len(deadlineWarnings()) < len(breaches); {
			time.Sleep(50 * time.Millisecond)
		}
	})

	store, err := notify.NewStore(context.Background(), in.JS)
	if err != nil {
		t.Fatal(err)
	}
	incs, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != len(breaches) {
		t.Fatalf("%d incidents, want one per breach (%d)", len(incs), len(breaches))
	}
	check := func(when string) {
		t.Helper()
		if n := srv.Patches(); n != 1 {
			t.Errorf("%s: SCIM saw %d PATCH requests, want exactly 1", when, n)
		}
		states := map[string]string{}
		for _, acct := range []string{guardian.Account, stuffed.Account, pupil.Account} {
			inc, err := store.OpenFor(ctx, guardian.Org, acct)
			if err != nil {
				t.Fatalf("%s: incident of %s: %v", when, acct, err)
			}
			states[acct] = inc.Deactivation
			if inc.Deactivation == respond.StateDone && (inc.State != event.StateContained || inc.Steps[1].At.IsZero()) {
				t.Errorf("%s: %s deactivated but state %s, step 1 %+v", when, inc.ID, inc.State, inc.Steps[1])
			}
		}
		if states[guardian.Account] != respond.StateRefused {
			t.Errorf("%s: allow-listed %s: deactivation %q, want refused", when, guardian.Account, states[guardian.Account])
		}
		if active, _ := srv.Active(guardian.Account); !active {
			t.Errorf("%s: the allow-listed account was deactivated", when)
		}
		a, b := states[stuffed.Account], states[pupil.Account]
		if !(a == respond.StateDone && b == respond.StateAwaitingApproval || a == respond.StateAwaitingApproval && b == respond.StateDone) {
			t.Errorf("%s: with a cap of 1 per org per hour: %s %q, %s %q; want one done and one awaiting approval", when, stuffed.Account, a, pupil.Account, b)
		}
		for id, n := range deadlineWarnings() {
			if n != 1 {
				t.Errorf("%s: %s got %d deadline-24h warnings, want 1", when, id, n)
			}
		}
		if n := len(deadlineWarnings()); n != len(breaches) {
			t.Errorf("%s: %d incidents warned at 24 h, want %d", when, n, len(breaches))
		}
	}
	check("first run")
	t.Logf("first run: %d PATCH, deadline warnings %v", srv.Patches(), deadlineWarnings())

	// The watcher takes its snapshots when an incident opens, while the rest of the day may
	// still be on its way into the history; one taken now that everything is stored (as
	// `breachd incidents evidence --refresh` does) must count exactly what the history holds.
	clock.Advance(time.Minute)
	svc, err := in.Stores.Incidents(ctx, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i, inc := range incs {
		if incs[i], err = notify.CollectEvidence(ctx, in.History, svc, inc, notify.EvidenceLookback, history.Asker{Who: "test"}); err != nil {
			t.Fatal(err)
		}
	}

	// Evidence: both snapshots, hashes verify, and the access numbers are history's own.
	for _, inc := range incs {
		evs, err := in.History.EvidenceOf(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		q := fmt.Sprintf("FROM access_events WHERE actor = '%s'", inc.Account)
		people, records := count(t, in, "SELECT uniqExact(subject) "+q), count(t, in, "SELECT sum(records) "+q)
		kinds := map[string]history.Evidence{} // the latest snapshot of each kind (EvidenceOf: oldest first)
		for _, e := range evs {
			if !e.Verify() {
				t.Errorf("%s: evidence %s does not verify", inc.ID, e.ID)
			}
			var sum history.AccessSummary
			if e.Kind == history.EvidenceAccess && json.Unmarshal([]byte(e.Content), &sum) == nil && (sum.Total.People > people || sum.Total.Records > records) {
				t.Errorf("%s: snapshot %s counts %d people, %d records; more than the history's %d, %d", inc.ID, e.ID, sum.Total.People, sum.Total.Records, people, records)
			}
			kinds[e.Kind] = e
		}
		acc, ok := kinds[history.EvidenceAccess]
		if _, logins := kinds[history.EvidenceLogins]; !ok || !logins {
			t.Errorf("%s: evidence kinds %v, want logins and access", inc.ID, evs)
			continue
		}
		var sum history.AccessSummary
		if err := json.Unmarshal([]byte(acc.Content), &sum); err != nil {
			t.Fatal(err)
		}
		if sum.Total.People != people || sum.Total.Records != records {
			t.Errorf("%s: evidence counts %d people, %d records; history has %d, %d", inc.ID, sum.Total.People, sum.Total.Records, people, records)
		}
		if _, done := inc.Steps[3]; !done {
			t.Errorf("%s: step 3 not recorded after the login evidence", inc.ID)
		}

		// The draft Art. 33 notice: every section, and the numbers of the evidence.
		rep, err := notify.BuildReport(inc, evs, nil, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		md := rep.Markdown()
		for _, h := range notify.ReportHeadings {
			if !strings.Contains(md, h) {
				t.Errorf("%s: the report lacks section %q", inc.ID, h)
			}
		}
		if !rep.Numbers.Known || rep.Numbers.People != sum.Total.People || rep.Numbers.Records != sum.Total.Records ||
			rep.Controller != inc.Org || rep.Discovery.Status != "overdue" && rep.Discovery.Status != "pending" {
			t.Errorf("%s: report numbers %+v, controller %q, discovery %+v", inc.ID, rep.Numbers, rep.Controller, rep.Discovery)
		}
	}

	// Restart with every alert delivered again to a new notifier consumer.
	if err := adminJS(t, in).DeleteConsumer(ctx, bus.StreamAlerts, "notify"); err != nil { // the pipeline may not
		t.Fatal(err)
	}
	run(nil)
	check("after a restart that redelivered every alert")
	if after, err := store.List(ctx); err != nil || len(after) != len(incs) {
		t.Errorf("after the restart: %d incidents (%v), want %d", len(after), err, len(incs))
	}
}
