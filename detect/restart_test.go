package detect_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/deploy"
	"breachd/detect"
	"breachd/event"
	"breachd/simulate"
)

const victim = "ola.nordmann@ex.kommune.no"

// stuffing is a credential-stuffing burst against victim: 25 failures 10 s apart, then a
// success; and, interleaved, logins of other accounts (some in victim's partitions, some not).
func stuffing() (first, rest []*event.Event) {
	t0 := time.Date(2026, 11, 2, 6, 40, 0, 0, time.UTC)
	auth := func(id, user, result string, at time.Duration) *event.Event {
		return &event.Event{Kind: event.KindAuth, ID: id, Time: t0.Add(at), Org: realm, User: user, Service: "lms",
			Result: result, Method: "password", IP: "203.0.113.9", Country: "VN"}
	}
	var all []*event.Event
	for i := range 25 {
		all = append(all, auth(fmt.Sprintf("cs-%02d", i), victim, "failure", time.Duration(i)*10*time.Second))
		other := fmt.Sprintf("pupil%d@ex.kommune.no", i)
		all = append(all, auth(fmt.Sprintf("ok-%02d", i), other, "success", time.Duration(i)*10*time.Second+time.Second))
	}
	all = append(all, auth("cs-ok", victim, "success", 255*time.Second))
	return all[:30], all[30:] // 15 failures of victim (and 15 other logins) before the restart
}

// credentialStuffingAlerts counts the credential-stuffing alerts for victim in history.
func credentialStuffingAlerts(t *testing.T, in *deploy.Infra) uint64 {
	t.Helper()
	return count(t, in, fmt.Sprintf("SELECT count() FROM alerts FINAL WHERE rule_id = 'credential-stuffing' AND account = '%s'", victim))
}

// TestWindowsSurviveRestart: 15 of a burst's failures reach a detector, which is then stopped;
// a new one (new engine and directory, same durable: another process) gets the remaining 10
// and the success. With the warm-up it alerts, as a detector that never stopped would; without
// it, it does not (the negative control: the window starts empty). The detector is the owner
// of victim's partition in a set of two, so the warm-up also shows it replays only its own
// partitions.
func TestWindowsSurviveRestart(t *testing.T) {
	for _, warm := range []bool{true, false} {
		t.Run(fmt.Sprintf("warm-up=%v", warm), func(t *testing.T) {
			in := startInfra(t)
			layout, err := bus.ReadLayout(context.Background(), in.JS)
			if err != nil {
				t.Fatal(err)
			}
			first, rest := stuffing()
			i := layout.Partition(victim) % 2
			publish(t, in.JS, first)
			before := newMember(t, in, i, 2, detect.Options{})
			stop := run(t, before.det)
			// Evaluated first, then acked: a durable's pending count can read 0 just after it
			// was created, before the server counted its filtered subjects.
			waitEvaluated(t, before, layout, i, first)
			waitIdle(t, in.JS, detect.DurableName(i, 2))
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if n := credentialStuffingAlerts(t, in); n != 0 {
				t.Fatalf("%d alerts after 15 failures, want 0", n)
			}

			after := newMember(t, in, i, 2, detect.Options{NoWarmUp: !warm})
			stop = run(t, after.det)
			publish(t, in.JS, rest)
			waitEvaluated(t, after, layout, i, rest)
			waitIdle(t, in.JS, detect.DurableName(i, 2))
			if err := stop(); err != nil {
				t.Fatal(err)
			}

			want := map[bool]uint64{true: 1, false: 0}[warm]
			if n := credentialStuffingAlerts(t, in); n != want {
				t.Errorf("credential-stuffing alerts for %s after the restart = %d, want %d", victim, n, want)
			}
			// Warmed: the 15 failures and the other logins of the first part in this member's
			// partitions; nothing of the other member's partitions, nothing evaluated again.
			wantWarm := 0.0
			for _, e := range first {
				if warm && layout.Partition(e.User)%2 == i {
					wantWarm++
				}
			}
			if n := counter(t, after.reg, "breach_detect_warmup_events_total"); warm && n != wantWarm || !warm && n != 0 {
				t.Errorf("warmed %v events, want %v", n, wantWarm)
			}
			for _, e := range first {
				if n := after.eval.count(e.ID); n != 0 {
					t.Errorf("%s evaluated again after the restart", e.ID)
				}
			}
		})
	}
}

// waitEvaluated waits until m (member i of 2) has evaluated every event of events in its
// partitions.
func waitEvaluated(t *testing.T, m *member, layout bus.Layout, i int, events []*event.Event) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		missing := ""
		for _, e := range events {
			if layout.Partition(e.User)%2 == i && m.eval.count(e.ID) == 0 {
				missing = e.ID
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("member %d of 2 has not evaluated %s", i, missing)
		}
	}
}

// TestResizeDetectorSet follows deploy/README.md: a detector alone (0 of 1) is stopped halfway
// through a burst, and a set of two starts. Their new durables start where the old one stopped
// (nothing is evaluated or written twice), they warm up from before that point, and the alert
// fires on the member owning the account.
func TestResizeDetectorSet(t *testing.T) {
	in := startInfra(t)
	layout, err := bus.ReadLayout(context.Background(), in.JS)
	if err != nil {
		t.Fatal(err)
	}
	first, rest := stuffing()
	publish(t, in.JS, first)
	stop := run(t, newDetector(t, in, in.History, detect.Options{}))
	waitIdle(t, in.JS)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	floor := consumerInfo(t, in.JS).AckFloor.Stream

	members := []*member{newMember(t, in, 0, 2, detect.Options{}), newMember(t, in, 1, 2, detect.Options{})}
	for _, m := range members {
		stop := run(t, m.det)
		defer func() {
			if err := stop(); err != nil {
				t.Error(err)
			}
		}()
	}
	publish(t, in.JS, rest)
	waitIdle(t, in.JS, detect.DurableName(0, 2), detect.DurableName(1, 2))

	for i := range members {
		c, err := in.JS.Consumer(context.Background(), bus.StreamEvents, detect.DurableName(i, 2))
		if err != nil {
			t.Fatal(err)
		}
		cfg := c.CachedInfo().Config
		if cfg.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || cfg.OptStartSeq != floor+1 {
			t.Errorf("member %d starts with policy %v at %d, want by start sequence at %d", i, cfg.DeliverPolicy, cfg.OptStartSeq, floor+1)
		}
	}
	for _, e := range first {
		if n := members[0].eval.count(e.ID) + members[1].eval.count(e.ID); n != 0 {
			t.Errorf("%s evaluated again by the new set", e.ID)
		}
	}
	if n, want := count(t, in, "SELECT count() FROM auth_events"), uint64(len(first)+len(rest)); n != want {
		t.Errorf("auth rows in history = %d (no FINAL), want %d: events written twice or missing", n, want)
	}
	if n := credentialStuffingAlerts(t, in); n != 1 {
		t.Errorf("credential-stuffing alerts = %d, want 1", n)
	}
	owner := members[layout.Partition(victim)%2]
	if n := counter(t, owner.reg, "breach_detect_alerts_total"); n != 1 {
		t.Errorf("the owning member published %v alerts, want 1", n)
	}
}

// BenchmarkWarmUp times a restarted detector's warm-up: the events of a simulated stream, all
// acked before the restart and all within the longest window, replayed into a fresh engine.
//
//	go test -run '^$' -bench WarmUp -benchtime 3x ./detect/
func BenchmarkWarmUp(b *testing.B) {
	cfg := simulate.Defaults()
	cfg.Orgs, cfg.Days = 2, 2
	evs := generate(b, cfg)
	in := startInfra(b)
	publish(b, in.JS, evs)
	stop := run(b, newDetector(b, in, in.History, detect.Options{}))
	waitIdle(b, in.JS)
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		reg := prometheus.NewRegistry()
		d := newDetector(b, in, in.History, detect.Options{Registerer: reg})
		start := time.Now()
		stop := run(b, d)
		for counter(b, reg, "breach_detect_warmup_events_total") < float64(len(evs)) {
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("warmed %v of %d events in 2 min", counter(b, reg, "breach_detect_warmup_events_total"), len(evs))
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		if err := stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(len(evs)), "events/op")
}

// TestSoleDetectorResumesFilteredDurable: a detector alone consumes the whole stream without
// filters; the durable of a version that filtered on every partition and the directory is
// updated to that and resumes where it stood, so nothing it had acked comes again and nothing
// after is missed.
func TestSoleDetectorResumesFilteredDurable(t *testing.T) {
	in := startInfra(t)
	ctx := context.Background()
	layout, err := bus.ReadLayout(ctx, in.JS)
	if err != nil {
		t.Fatal(err)
	}
	evs := fixture()
	publish(t, in.JS, evs)
	filters := []string{bus.SubjectDirectory}
	for p := range layout.Partitions {
		filters = append(filters, bus.PartitionFilter(p))
	}
	c, err := in.JS.CreateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{Durable: soleDurable,
		AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1, FilterSubjects: filters})
	if err != nil {
		t.Fatal(err)
	}
	const acked = 3 // acked by the old version: not evaluated or written again
	batch, err := c.Fetch(acked, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	stop := run(t, newDetector(t, in, in.History, detect.Options{}))
	waitIdle(t, in.JS)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if cfg := consumerInfo(t, in.JS).Config; cfg.FilterSubject != "" || len(cfg.FilterSubjects) != 0 {
		t.Errorf("sole detector's durable filters %q %v, want the whole stream", cfg.FilterSubject, cfg.FilterSubjects)
	}
	if got, want := historyIDs(t, in), ids(evs[acked:]); !slices.Equal(got, want) {
		t.Errorf("event ids in history:\n got %v\nwant %v", got, want)
	}
	checkDrained(t, in, uint64(len(evs)))
}
