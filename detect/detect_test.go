package detect_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/deploy"
	"breachd/detect"
	"breachd/event"
	"breachd/simulate"
)

const (
	realm    = "ex.kommune.no"
	school   = "NO974600951"
	class8a  = "fc:gogroup:ex.kommune.no:b:NO974600951:8a:2026-08-15:2027-06-20"
	pupil    = "ola.nordmann@ex.kommune.no"
	teacher  = "kari.laerer@ex.kommune.no"
	guardian = "idporten:hash:7f3a"
)

// fixture is a directory snapshot (a pupil, the class's contact teacher, and a guardian whose
// relation to the pupil is blocked), then a day's activity: legitimate logins and accesses,
// and one access by the blocked guardian, the only thing the default pack must alert on.
func fixture() []*event.Event {
	t0 := time.Date(2026, 11, 1, 21, 0, 0, 0, time.UTC)
	day := time.Date(2026, 11, 2, 7, 0, 0, 0, time.UTC)
	at := func(base time.Time, min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	return []*event.Event{
		{Kind: event.KindDirectory, ID: "sas-1", Time: t0, Org: realm, Op: event.OpPerson, User: pupil,
			Affiliations: []string{"student", "member"}, PrimaryAffiliation: "student", Schools: []string{school}, NINHash: "h-0001"},
		{Kind: event.KindDirectory, ID: "sas-2", Time: t0, Org: realm, Op: event.OpPerson, User: teacher,
			Affiliations: []string{"faculty", "employee", "member"}, PrimaryAffiliation: "faculty", Schools: []string{school}, NINHash: "h-0002"},
		{Kind: event.KindDirectory, ID: "sas-3", Time: t0, Org: realm, Op: event.OpPerson, User: guardian,
			Affiliations: []string{"affiliate"}, PrimaryAffiliation: "affiliate", NINHash: "h-0003"},
		{Kind: event.KindDirectory, ID: "sas-4", Time: t0, Org: realm, Op: event.OpMembership, User: pupil,
			Group: class8a, GoType: "b", Role: "student", School: school, Change: "add"},
		{Kind: event.KindDirectory, ID: "sas-5", Time: t0, Org: realm, Op: event.OpMembership, User: teacher,
			Group: class8a, GoType: "b", Role: "faculty", ContactTeacher: true, School: school, Change: "add"},
		{Kind: event.KindDirectory, ID: "sas-6", Time: t0, Org: realm, Op: event.OpGuardianship, Guardian: guardian, Child: pupil, Status: "blocked"},
		{Kind: event.KindAuth, ID: "idp-1", Time: at(day, 1), Org: realm, User: teacher, Service: "lms", Result: "success", Method: "password"},
		{Kind: event.KindAccess, ID: "lms-1", Time: at(day, 5), Org: realm, Actor: teacher, ActorRole: "contact_teacher", Action: "view",
			Subject: pupil, Resource: "wellbeing", Service: "lms", Group: class8a},
		{Kind: event.KindAccess, ID: "lms-2", Time: at(day, 6), Org: realm, Actor: teacher, ActorRole: "teacher", Action: "update",
			Subject: pupil, Resource: "grades", Service: "lms", Group: class8a},
		{Kind: event.KindAuth, ID: "idp-2", Time: at(day, 70), Org: realm, User: guardian, Service: "sas", Result: "success", Method: "idporten"},
		{Kind: event.KindAccess, ID: "sas-7", Time: at(day, 72), Org: realm, Actor: guardian, ActorRole: "guardian", Action: "view",
			Subject: pupil, Resource: "absence", Service: "sas"},
	}
}

// wantAlertID is the one alert the fixture must raise.
var wantAlertID = event.AlertID("guardian-blocked-access", "sas-7")

func ids(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	slices.Sort(out)
	return out
}

// historyIDs lists the event ids in history, one per row (no FINAL: duplicates show).
func historyIDs(t *testing.T, in *deploy.Infra) []string {
	t.Helper()
	rows, err := in.History.Conn().Query(context.Background(),
		"SELECT id FROM auth_events UNION ALL SELECT id FROM access_events UNION ALL SELECT id FROM directory_events")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// checkAlertOnce asserts the fixture's alert is in history's alerts table and on ALERTS at
// breachd.alerts.critical with Nats-Msg-Id = alert id, exactly once each.
func checkAlertOnce(t *testing.T, in *deploy.Infra) {
	t.Helper()
	var id, rule, severity, account, subject, eventID string
	if n := count(t, in, "SELECT count() FROM alerts FINAL"); n != 1 {
		t.Fatalf("alerts in history = %d, want 1", n)
	}
	if err := in.History.Conn().QueryRow(context.Background(), "SELECT id, rule_id, severity, account, subject, event_id FROM alerts FINAL").
		Scan(&id, &rule, &severity, &account, &subject, &eventID); err != nil {
		t.Fatal(err)
	}
	if id != wantAlertID || rule != "guardian-blocked-access" || severity != "critical" || account != guardian || subject != pupil || eventID != "sas-7" {
		t.Errorf("alert in history = %s %s %s %s %s %s, want %s guardian-blocked-access critical %s %s sas-7",
			id, rule, severity, account, subject, eventID, wantAlertID, guardian, pupil)
	}
	msgs := streamAlerts(t, in.JS)
	if len(msgs) != 1 {
		t.Fatalf("alerts on ALERTS = %d, want 1", len(msgs))
	}
	m := msgs[0]
	var a event.Alert
	if err := json.Unmarshal(m.Data, &a); err != nil {
		t.Fatalf("alert on ALERTS: %v", err)
	}
	if m.Subject != bus.AlertSubject(event.SeverityCritical) || m.Header.Get(bus.HeaderMsgID) != wantAlertID || a.ID != wantAlertID || a.Account != guardian {
		t.Errorf("alert on ALERTS: subject %s, Nats-Msg-Id %q, id %s, account %s; want %s, %s, %s, %s",
			m.Subject, m.Header.Get(bus.HeaderMsgID), a.ID, a.Account, bus.AlertSubject(event.SeverityCritical), wantAlertID, wantAlertID, guardian)
	}
}

// checkDrained asserts the consumer acked all n messages and has nothing outstanding.
func checkDrained(t *testing.T, in *deploy.Infra, n uint64) {
	t.Helper()
	info := consumerInfo(t, in.JS)
	if info.NumPending != 0 || info.NumAckPending != 0 || info.NumRedelivered != 0 || info.AckFloor.Stream != n {
		t.Errorf("consumer: pending %d, ack pending %d, redelivered %d, ack floor %d; want 0, 0, 0, %d",
			info.NumPending, info.NumAckPending, info.NumRedelivered, info.AckFloor.Stream, n)
	}
}

func TestHappyPath(t *testing.T) {
	in := startInfra(t)
	evs := fixture()
	publish(t, in.JS, evs)
	reg := prometheus.NewRegistry()
	stop := run(t, newDetector(t, in, in.History, detect.Options{Registerer: reg}))
	waitIdle(t, in.JS)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if got, want := historyIDs(t, in), ids(evs); !slices.Equal(got, want) {
		t.Errorf("event ids in history (no FINAL):\n got %v\nwant %v", got, want)
	}
	checkAlertOnce(t, in)
	checkDrained(t, in, uint64(len(evs)))
	if n := counter(t, reg, "breach_detect_events_total"); n != float64(len(evs)) {
		t.Errorf("breach_detect_events_total = %v, want %d", n, len(evs))
	}
	if n := counter(t, reg, "breach_detect_alerts_total"); n != 1 {
		t.Errorf("breach_detect_alerts_total = %v, want 1", n)
	}
}

// TestUndecodableMessageTerminated: a foreign publisher's garbage on an event subject is
// terminated once and counted; the events after it are processed.
func TestUndecodableMessageTerminated(t *testing.T) {
	in := startInfra(t)
	ctx := context.Background()
	junk := &nats.Msg{Subject: bus.PartitionSubject(event.KindAuth, 0), Data: []byte("this is not json"), Header: nats.Header{bus.HeaderMsgID: []string{"junk-1"}}}
	if _, err := in.JS.PublishMsg(ctx, junk); err != nil {
		t.Fatal(err)
	}
	evs := fixture()
	publish(t, in.JS, evs[:len(evs)-1])
	reg := prometheus.NewRegistry()
	stop := run(t, newDetector(t, in, in.History, detect.Options{Registerer: reg}))
	waitIdle(t, in.JS)
	// One more event after the first drain: had the junk been left for redelivery rather than
	// terminated, it would come back and be counted again.
	publish(t, in.JS, evs[len(evs)-1:])
	waitIdle(t, in.JS)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if got, want := historyIDs(t, in), ids(evs); !slices.Equal(got, want) {
		t.Errorf("event ids in history:\n got %v\nwant %v", got, want)
	}
	checkDrained(t, in, uint64(len(evs)+1))
	if n := counter(t, reg, "breach_detect_invalid_messages_total"); n != 1 {
		t.Errorf("breach_detect_invalid_messages_total = %v, want 1", n)
	}
	if n := counter(t, reg, "breach_detect_events_total"); n != float64(len(evs)) {
		t.Errorf("breach_detect_events_total = %v, want %d", n, len(evs))
	}
	checkAlertOnce(t, in)
}

// TestShutdownFinishesBatchInHand cancels Run while batches are flowing: Run returns nil, the
// batch in hand is finished and acked, a batch fetched ahead is nak'd (delivered again at once,
// not abandoned until AckWait), and exactly the acked events are in history, once. A second
// detector then drains the rest without writing anything twice.
func TestShutdownFinishesBatchInHand(t *testing.T) {
	in := startInfra(t)
	cfg := simulate.Defaults()
	cfg.Orgs = 1
	evs := generate(t, cfg)
	total := uint64(len(evs))
	publish(t, in.JS, evs)

	const batch = 50
	stop := run(t, newDetector(t, in, in.History, detect.Options{Batch: batch}))
	deadline := time.Now().Add(time.Minute)
	for eventRows(t, in, false) < total/10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := stop(); err != nil { // as on SIGTERM
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	if err := in.NC.Flush(); err != nil { // acks and naks are buffered writes
		t.Fatal(err)
	}
	// Acks are applied by the server asynchronously. What stays pending is at most the batch
	// fetched ahead, nak'd.
	info := consumerInfo(t, in.JS)
	for deadline := time.Now().Add(10 * time.Second); info.NumAckPending > batch && time.Now().Before(deadline); info = consumerInfo(t, in.JS) {
		time.Sleep(20 * time.Millisecond)
	}
	if info.NumAckPending > batch || info.NumRedelivered != 0 {
		t.Fatalf("after shutdown: %d messages delivered but not acked (%d redelivered), want at most the %d of the batch fetched ahead",
			info.NumAckPending, info.NumRedelivered, batch)
	}
	// Whether a batch is ahead at the cancel depends on timing here; TestShutdownWithBatchAhead
	// holds one there for certain.
	if n := info.NumAckPending; n > 0 {
		// Nak'd, they are the first the durable delivers, at once; abandoned, they would wait
		// out AckWait (90 s) and the durable would deliver the events after them first.
		cons, err := in.JS.Consumer(context.Background(), bus.StreamEvents, info.Name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for m := range got.Messages() {
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			if want := info.AckFloor.Stream + 1 + uint64(i); md.Sequence.Stream != want || md.NumDelivered != 2 {
				t.Errorf("after shutdown, message %d: stream sequence %d delivered %d times, want %d delivered twice (the nak'd batch)",
					i, md.Sequence.Stream, md.NumDelivered, want)
			}
			_ = m.Nak()
			i++
		}
		if i != n {
			t.Errorf("after shutdown: fetched %d of the %d pending messages again", i, n)
		}
		if err := in.NC.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	acked := info.AckFloor.Stream
	if acked == 0 || acked >= total {
		t.Fatalf("acked %d of %d events before shutdown: cancel did not land mid-stream", acked, total)
	}
	if rows, final := eventRows(t, in, false), eventRows(t, in, true); rows != acked || final != acked {
		t.Errorf("after shutdown: %d rows (%d distinct) in history, want exactly the %d acked events", rows, final, acked)
	}
	t.Logf("stopped after %d of %d events, %d fetched ahead and nak'd", acked, total, info.NumAckPending)

	stop = run(t, newDetector(t, in, in.History, detect.Options{}))
	waitIdle(t, in.JS)
	if err := stop(); err != nil {
		t.Fatalf("second Run = %v, want nil", err)
	}
	if rows := eventRows(t, in, false); rows != total {
		t.Errorf("after the second detector: %d rows in history (no FINAL), want %d", rows, total)
	}
}

// generate returns the simulator's events for cfg.
func generate(tb testing.TB, cfg simulate.Config) []*event.Event {
	tb.Helper()
	gen, err := simulate.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	var evs []*event.Event
	if err := gen.Run(context.Background(), func(e *event.Event) error { evs = append(evs, e); return nil }); err != nil {
		tb.Fatal(err)
	}
	return evs
}
