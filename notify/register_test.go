package notify

import (
	"fmt"
	"testing"
	"time"

	"breachd/event"
)

func TestRegister(t *testing.T) {
	mk := func(id string, opened time.Time, change func(*event.Incident)) *event.Incident {
		inc := &event.Incident{ID: id, Org: "o.no", Account: id + "@o.no", State: event.StateDetected, Opened: opened,
			Aware: opened, Deadline: opened.Add(event.ReportWindow), Version: 1, Subjects: []string{"p1", "p2"}}
		change(inc)
		return inc
	}
	now := rt0.Add(100 * time.Hour)
	closed := rt0.Add(90 * time.Hour)
	incs := []*event.Incident{
		mk("pending", rt0.Add(50*time.Hour), func(*event.Incident) {}),
		mk("overdue", rt0.Add(time.Hour), func(*event.Incident) {}),
		mk("reported", rt0, func(i *event.Incident) {
			i.State, i.Report.ReportedAt, i.Report.Reference = event.StateReported, rt0.Add(80*time.Hour), "24/1"
		}),
		mk("notrep", rt0.Add(2*time.Hour), func(i *event.Incident) {
			i.State, i.Report.NotReportableReason = event.StateClosed, "test account"
			i.Timeline = []event.TimelineEntry{
				{At: rt0.Add(3 * time.Hour), Kind: event.TimelineTransition, Text: "detected → not_reportable: test account"},
				{At: closed, Kind: event.TimelineTransition, Text: "not_reportable → closed"},
			}
		}),
		mk("overdue", rt0.Add(time.Hour), func(i *event.Incident) { i.Version = 0 }), // older copy of one above
		nil,
	}
	rows := Register(incs, now)
	want := []struct {
		id, reported string
		late         bool
		closed       time.Time
	}{
		{"reported", RegReported, true, time.Time{}},
		{"overdue", RegOverdue, false, time.Time{}},
		{"notrep", RegNotReportable, false, closed},
		{"pending", RegPending, false, time.Time{}},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.ID != w.id || r.Reported != w.reported || r.Late != w.late || !r.Closed.Equal(w.closed) {
			t.Errorf("row %d: %s reported %q late %v closed %v; want %s %q %v %v", i, r.ID, r.Reported, r.Late, r.Closed, w.id, w.reported, w.late, w.closed)
		}
		if r.Subjects != 2 || r.Art34 != NotDecided || r.Version != 1 {
			t.Errorf("row %s: subjects %d art34 %q version %d", r.ID, r.Subjects, r.Art34, r.Version)
		}
	}
	if rows[2].Reason != "test account" || rows[0].Reference != "24/1" {
		t.Errorf("reason %q reference %q", rows[2].Reason, rows[0].Reference)
	}
}

// BenchmarkRegister: the register of 10,000 incidents.
func BenchmarkRegister(b *testing.B) {
	incs := make([]*event.Incident, 10000)
	for i := range incs {
		opened := rt0.Add(time.Duration(i) * time.Minute)
		incs[i] = &event.Incident{ID: fmt.Sprintf("INC-%05d", i), Org: "o.no", Account: "a", State: event.StateDetected,
			Opened: opened, Aware: opened, Deadline: opened.Add(event.ReportWindow), Version: 3}
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(Register(incs, rt0.Add(1000*time.Hour))) != len(incs) {
			b.Fatal("rows lost")
		}
	}
}
