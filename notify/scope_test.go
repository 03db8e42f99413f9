package notify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/event"
	"breachd/output"
	"breachd/respond"
)

// syncBuffer is an audit log the engines of a test write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dryRunEngine returns the Respond of a Desk: a dry-run engine on js with a cap of maxPerHour,
// auditing to audit.
func dryRunEngine(t *testing.T, js jetstream.JetStream, maxPerHour int, audit *syncBuffer) func(context.Context) (*respond.Engine, error) {
	t.Helper()
	if err := respond.EnsureBucket(context.Background(), js, 0, 0); err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context) (*respond.Engine, error) {
		return respond.New(ctx, js, respond.Options{Adapter: &respond.DryRun{}, Auditor: respond.NewJSONAuditor(audit),
			Logger: slog.New(slog.DiscardHandler), Policy: respond.Policy{MaxPerHour: maxPerHour}})
	}
}

// TestDeskScope: a desk scoped to Bergen lists and registers only Bergen's incidents, and every
// operation on an Oslo incident fails exactly like one on a missing id, changing nothing; the
// zero Scope sees nothing.
func TestDeskScope(t *testing.T) {
	js, _ := startJetStream(t)
	ctx := context.Background()
	now := t0.Add(time.Hour)
	incs := testIncidents(t, js, nil, now)
	eng := dryRunEngine(t, js, 0, &syncBuffer{})
	bergenInc := openWith(t, incs, testAlert("al-1", "r", event.SeverityHigh))
	oslo := testAlert("al-2", "r", event.SeverityHigh)
	oslo.Org, oslo.Account = "oslo.kommune.no", "kari@oslo.kommune.no"
	osloInc := openWith(t, incs, oslo)

	bergen := &Desk{Incidents: incs, Scope: event.OrgScope("bergen.kommune.no"), Respond: eng}
	soc := &Desk{Incidents: incs, Scope: event.Everywhere, Respond: eng}
	zero := &Desk{Incidents: incs, Respond: eng}
	count := func(d *Desk, r ListRequest) int {
		t.Helper()
		rows, err := d.List(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return len(rows.Rows)
	}
	for _, c := range []struct {
		name string
		d    *Desk
		req  ListRequest
		want int
	}{
		{"bergen, all", bergen, ListRequest{All: true}, 1},
		{"bergen, oslo's", bergen, ListRequest{All: true, Org: "oslo.kommune.no"}, 0},
		{"bergen, own", bergen, ListRequest{Org: "bergen.kommune.no"}, 1},
		{"soc, all", soc, ListRequest{All: true}, 2},
		{"zero scope", zero, ListRequest{All: true}, 0},
	} {
		if got := count(c.d, c.req); got != c.want {
			t.Errorf("%s: %d incidents, want %d", c.name, got, c.want)
		}
	}
	if reg, err := bergen.Register(ctx, t0.Add(-time.Hour), now.Add(time.Hour)); err != nil || len(reg.Rows) != 1 || reg.Rows[0][0] != bergenInc.ID {
		t.Errorf("bergen's register: %+v, %v", reg, err)
	}

	const missing = "INC-20000101-00000000"
	_, missErr := soc.Show(ctx, missing)
	if !errors.Is(missErr, ErrNotFound) {
		t.Fatalf("show of a missing id: %v", missErr)
	}
	ops := map[string]func(d *Desk, id string) error{
		"show":     func(d *Desk, id string) error { _, err := d.Show(ctx, id); return err },
		"evidence": func(d *Desk, id string) error { _, err := d.Evidence(ctx, id, true, "bente"); return err },
		"report": func(d *Desk, id string) error {
			_, err := d.Report(ctx, ReportRequest{ID: id, Dir: t.TempDir(), Actor: "bente"})
			return err
		},
		"ack": func(d *Desk, id string) error { _, err := d.Ack(ctx, id, now, Edit{Actor: "bente"}); return err },
		"transition": func(d *Desk, id string) error {
			_, err := d.Transition(ctx, id, event.StateContained, Edit{Actor: "bente"})
			return err
		},
		"comment": func(d *Desk, id string) error {
			_, err := d.Comment(ctx, id, 2, Edit{Actor: "bente", Comment: "x"})
			return err
		},
		"deactivate": func(d *Desk, id string) error { _, err := d.Deactivate(ctx, id, "", "bente"); return err },
		"approve":    func(d *Desk, id string) error { _, err := d.Approve(ctx, id, "ok", "bente"); return err },
		"cancel":     func(d *Desk, id string) error { _, err := d.Cancel(ctx, id, "stop", "bente"); return err },
		"reactivate": func(d *Desk, id string) error {
			_, err := d.Reactivate(ctx, ReactivateRequest{ID: id, Actor: "bente", Force: true, Reason: "x"})
			return err
		},
	}
	for name, op := range ops {
		for _, c := range []struct {
			who string
			d   *Desk
			id  string
		}{{"bergen", bergen, osloInc.ID}, {"zero scope", zero, bergenInc.ID}} {
			err := op(c.d, c.id)
			if want := strings.ReplaceAll(missErr.Error(), missing, c.id); !errors.Is(err, ErrNotFound) || err.Error() != want {
				t.Errorf("%s: %s of %s: %v; want %q", c.who, name, c.id, err, want)
			}
		}
	}
	if got, err := incs.Get(ctx, osloInc.ID); err != nil || got.Version != osloInc.Version {
		t.Errorf("oslo's incident after refused changes: version %d (was %d), %v", got.Version, osloInc.Version, err)
	}
	e, err := soc.respondEngine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get(ctx, osloInc.ID); !errors.Is(err, respond.ErrNotFound) {
		t.Errorf("a deactivation request of oslo's incident: %v", err)
	}

	// Bergen works its own incident.
	ch, err := bergen.Ack(ctx, bergenInc.ID, now.Add(-time.Minute), Edit{Actor: "bente"})
	if err != nil || ch.Incident.Aware.IsZero() {
		t.Fatalf("ack of bergen's incident: %+v, %v", ch, err)
	}
	if ch, err = bergen.Transition(ctx, bergenInc.ID, event.StateContained, Edit{Actor: "bente"}); err != nil || ch.Incident.State != event.StateContained {
		t.Fatalf("transition of bergen's incident: %+v, %v", ch, err)
	}
	if ch, err = bergen.Comment(ctx, bergenInc.ID, 2, Edit{Actor: "bente", Comment: "user informed"}); err != nil ||
		!strings.Contains(ch.Incident.Timeline[len(ch.Incident.Timeline)-1].Text, "user informed") {
		t.Fatalf("comment on bergen's incident: %+v, %v", ch, err)
	}
}

// TestDeskCancel: a deactivation held by the cap is cancelled with a comment (required,
// audited) and the incident records it; a cancelled or done request cannot be cancelled (nor
// approved) again, and an incident without a request has nothing to cancel.
func TestDeskCancel(t *testing.T) {
	js, _ := startJetStream(t)
	ctx := context.Background()
	audit := &syncBuffer{}
	d := &Desk{Incidents: testIncidents(t, js, nil, t0.Add(time.Hour)), Scope: event.Everywhere, Respond: dryRunEngine(t, js, 1, audit)}
	var ids []string
	for i, acct := range []string{"a@bergen.kommune.no", "b@bergen.kommune.no", "c@bergen.kommune.no"} {
		a := testAlert("al-"+string(rune('1'+i)), "r", event.SeverityHigh)
		a.Account = acct
		ids = append(ids, openWith(t, d.Incidents, a).ID)
	}
	if dep, err := d.Deactivate(ctx, ids[0], "", "soc"); err != nil || dep.Request.State != respond.StateDone {
		t.Fatalf("first deactivation: %+v, %v", dep, err)
	}
	if dep, err := d.Deactivate(ctx, ids[1], "", "soc"); err != nil || dep.Request.State != respond.StateAwaitingApproval {
		t.Fatalf("second deactivation (over the cap): %+v, %v", dep, err)
	}
	if _, err := d.Cancel(ctx, ids[1], " ", "soc"); err == nil || !strings.Contains(err.Error(), "needs a comment") {
		t.Errorf("cancel without a comment: %v", err)
	}
	dep, err := d.Cancel(ctx, ids[1], "false positive: the account's owner logged in from abroad", "soc-lead")
	if err != nil || dep.Request.State != respond.StateCancelled || dep.Incident.Deactivation != respond.StateCancelled {
		t.Fatalf("cancel: %+v, %v", dep, err)
	}
	last := dep.Incident.Timeline[len(dep.Incident.Timeline)-1]
	if !strings.Contains(last.Text, "deactivation cancelled") || !strings.Contains(last.Text, "cancelled by soc-lead: false positive") {
		t.Errorf("timeline after the cancellation ends with %+v", last)
	}
	var b strings.Builder
	if err := output.Write(&b, output.Table, dep); err != nil || !strings.Contains(b.String(), "deactivation request of "+ids[1]+": cancelled") {
		t.Errorf("cancel for people: %v\n%s", err, b.String())
	}
	for _, c := range []struct{ id, want string }{
		{ids[1], "the deactivation request is cancelled: only one that is awaiting_approval, requested, retrying can be cancelled"},
		{ids[0], "the deactivation request is done: only one"},
		{ids[2], "there is no deactivation request to cancel"},
	} {
		if _, err := d.Cancel(ctx, c.id, "again", "soc-lead"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("cancel %s: %v; want %q", c.id, err, c.want)
		}
	}
	if _, err := d.Approve(ctx, ids[1], "go", "soc-lead"); err == nil || !strings.Contains(err.Error(), "is cancelled, not awaiting approval") {
		t.Errorf("approve a cancelled request: %v", err)
	}
	if log := audit.String(); !strings.Contains(log, `"action":"respond.cancel","org":"bergen.kommune.no","account":"b@bergen.kommune.no","incident":"`+ids[1]) ||
		!strings.Contains(log, `"actor":"soc-lead"`) || !strings.Contains(log, "false positive") {
		t.Errorf("audit log lacks the cancellation:\n%s", log)
	}
}
