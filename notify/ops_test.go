package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"breachd/event"
	"breachd/output"
	"breachd/respond"
)

// TestDeskListAndRegister: the listing selects open incidents, all, a state or an
// organisation, and refuses an unknown state; the register bounds by opening time.
func TestDeskListAndRegister(t *testing.T) {
	js, _ := startJetStream(t)
	now := t0.Add(time.Hour)
	d := &Desk{Incidents: testIncidents(t, js, nil, now), Scope: event.Everywhere}
	ctx := context.Background()
	bergen := openWith(t, d.Incidents, testAlert("al-1", "r", event.SeverityHigh))
	oslo := testAlert("al-2", "r", event.SeverityLow)
	oslo.Org, oslo.Account = "oslo.kommune.no", "kari@oslo.kommune.no"
	osloInc := openWith(t, d.Incidents, oslo)
	if _, err := d.Incidents.Transition(ctx, osloInc.ID, event.StateClosed, Edit{Actor: "tester", Comment: "no breach: a test"}); err != nil {
		t.Fatal(err)
	}
	ids := func(r *output.Rows) (out []string) {
		for _, row := range r.Rows {
			out = append(out, row[0].(string))
		}
		return out
	}
	for _, c := range []struct {
		req  ListRequest
		want string
	}{
		{ListRequest{}, bergen.ID},
		{ListRequest{All: true}, bergen.ID + " " + osloInc.ID},
		{ListRequest{State: event.StateClosed}, osloInc.ID},
		{ListRequest{All: true, Org: "oslo.kommune.no"}, osloInc.ID},
		{ListRequest{Org: "oslo.kommune.no"}, ""},
	} {
		rows, err := d.List(ctx, c.req)
		if err != nil || strings.Join(ids(rows), " ") != c.want && strings.Join(ids(rows), " ") != reverse(c.want) {
			t.Errorf("List(%+v) = %v, %v; want %s", c.req, ids(rows), err, c.want)
		}
	}
	if _, err := d.List(ctx, ListRequest{State: "solved"}); err == nil || !strings.Contains(err.Error(), `state "solved" is not one of`) {
		t.Errorf("unknown state: %v", err)
	}
	reg, err := d.Register(ctx, now.Add(-time.Minute), now.Add(time.Minute))
	if err != nil || len(reg.Rows) != 2 || len(reg.Columns) != len(RegisterColumns) {
		t.Errorf("register around the openings: %+v, %v", reg, err)
	}
	if reg, err := d.Register(ctx, now.Add(time.Minute), now.Add(time.Hour)); err != nil || len(reg.Rows) != 0 {
		t.Errorf("register after the openings: %+v, %v", reg, err)
	}
	shown, err := d.Show(ctx, bergen.ID)
	if err != nil || shown.ID != bergen.ID || shown.Due == "" {
		t.Errorf("show: %+v, %v", shown, err)
	}
	if _, err := d.Show(ctx, "INC-20000101-00000000"); err == nil {
		t.Error("show of no incident")
	}
}

func reverse(s string) string {
	f := strings.Fields(s)
	for i, j := 0, len(f)-1; i < j; i, j = i+1, j-1 {
		f[i], f[j] = f[j], f[i]
	}
	return strings.Join(f, " ")
}

// TestChangedAndDeactivationRender: for people the state line and latest timeline entry; in
// JSON the incident as stored (a change) or the request and the incident (a deactivation).
func TestChangedAndDeactivationRender(t *testing.T) {
	inc := &event.Incident{ID: "INC-1", State: event.StateDetected, Version: 3, Deadline: t0.Add(72 * time.Hour), Deactivation: DeactivationDryRun,
		Timeline: []event.TimelineEntry{{At: t0, Actor: "tester", Text: "phone call"}}}
	var b strings.Builder
	if err := output.Write(&b, output.Table, Changed{inc, t0}); err != nil ||
		b.String() != "INC-1 is detected (version 3), report due 2026-11-05 08:01 UTC (3d 0h 0m left)\n  2026-11-02T08:01:00Z  tester  phone call\n" {
		t.Errorf("changed: %v\n%q", err, b.String())
	}
	b.Reset()
	var back event.Incident
	if err := output.Write(&b, output.JSON, Changed{inc, t0}); err != nil || json.Unmarshal([]byte(b.String()), &back) != nil || back.Version != 3 {
		t.Errorf("changed in JSON: %v\n%s", err, b.String())
	}
	r := &respond.Request{Incident: "INC-1", State: respond.StateDone, Adapter: (&respond.DryRun{}).Name()}
	b.Reset()
	if err := output.Write(&b, output.Table, Deactivation{inc, r}); err != nil || !strings.Contains(b.String(),
		"deactivation request of INC-1: done via dryrun: would deactivate the account; a dry run, nothing was changed\nINC-1 is detected (version 3), deactivation dry run") {
		t.Errorf("deactivation: %v\n%s", err, b.String())
	}
	b.Reset()
	var both map[string]json.RawMessage
	if err := output.Write(&b, output.JSON, Deactivation{inc, r}); err != nil || json.Unmarshal([]byte(b.String()), &both) != nil ||
		both["request"] == nil || both["incident"] == nil {
		t.Errorf("deactivation in JSON: %v\n%s", err, b.String())
	}
}

func TestParseMarks(t *testing.T) {
	marks, err := ParseMarks([]string{"24h", "66h"})
	if err != nil || len(marks) != 2 || marks[1] != 66*time.Hour {
		t.Errorf("ParseMarks: %v, %v", marks, err)
	}
	for _, bad := range []string{"72h", "0s", "-1h", "soon"} {
		if _, err := ParseMarks([]string{bad}); err == nil {
			t.Errorf("mark %q accepted", bad)
		}
	}
}

// TestDeskRespondConcurrently: concurrent deactivations through one Desk (the API's callers)
// build its respond engine once, and each incident gets one request however many callers ask;
// without an engine the deactivation operations are refused.
func TestDeskRespondConcurrently(t *testing.T) {
	js, _ := startJetStream(t)
	ctx := context.Background()
	if err := respond.EnsureBucket(ctx, js, 0, 0); err != nil {
		t.Fatal(err)
	}
	var builds atomic.Int32
	d := &Desk{Incidents: testIncidents(t, js, nil, t0.Add(time.Hour)), Scope: event.Everywhere, Respond: func(ctx context.Context) (*respond.Engine, error) {
		builds.Add(1)
		return respond.New(ctx, js, respond.Options{Adapter: &respond.DryRun{}, Auditor: respond.NewJSONAuditor(io.Discard),
			Logger: slog.New(slog.DiscardHandler)})
	}}
	var ids []string
	for i, acct := range []string{"a@bergen.kommune.no", "b@bergen.kommune.no", "c@bergen.kommune.no"} {
		a := testAlert(fmt.Sprintf("al-%d", i), "r", event.SeverityHigh)
		a.Account = acct
		ids = append(ids, openWith(t, d.Incidents, a).ID)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		requests = map[string]map[string]bool{} // incident → request ids
	)
	for range 2 {
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dep, err := d.Deactivate(ctx, id, "", "tester")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if requests[id] == nil {
					requests[id] = map[string]bool{}
				}
				requests[id][dep.Request.ID] = true
			}()
		}
	}
	wg.Wait()
	for _, id := range ids {
		if len(requests[id]) != 1 {
			t.Errorf("%s: requests %v, want one", id, requests[id])
		}
	}
	if n := builds.Load(); n != 1 {
		t.Errorf("respond engine built %d times, want once", n)
	}
	if _, err := (&Desk{Incidents: d.Incidents, Scope: event.Everywhere}).Deactivate(ctx, ids[0], "", "tester"); err == nil {
		t.Error("deactivation without an engine")
	}
}
