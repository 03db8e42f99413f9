package channel

import (
	"testing"
	"time"

	"breachd/event"
)

func TestChangeMessages(t *testing.T) {
	inc := testIncident()
	a := &event.Alert{ID: "al-1", RuleID: "teacher-own-child", Severity: event.SeverityCritical, Tags: []string{"guardian"}, Summary: "s"}
	keys := func(ms []Message) []string {
		var out []string
		for _, m := range ms {
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			out = append(out, m.Kind+" "+m.Key)
		}
		return out
	}
	cases := []struct {
		name   string
		change string
		ref    event.AlertRef
		want   []string
	}{
		{"opened", "opened", event.AlertRef{Version: 1}, []string{"opened INC-20261105-1a2b3c4d/opened"}},
		{"plain update pages nobody", "updated", event.AlertRef{Version: 4}, nil},
		{"rise and respond", "updated", event.AlertRef{Version: 5, RaisedFrom: event.SeverityHigh, Respond: true},
			[]string{"escalated INC-20261105-1a2b3c4d/escalated/v5", "deactivation INC-20261105-1a2b3c4d/deactivation"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := keys(ChangeMessages(c.change, inc, a, c.ref))
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
	m := DeadlineMessage(inc, 48*time.Hour, t0.Add(48*time.Hour))
	if m.Kind != "deadline-48h" || m.Key != inc.ID+"/deadline-48h" || m.Title != "not reported 48h after awareness, 24h left" {
		t.Fatalf("deadline message = %+v", m)
	}
	for d, want := range map[time.Duration]string{90 * time.Minute: "1h30m", -time.Hour: "overdue 1h", 0: "0h"} {
		if got := hours(d); got != want {
			t.Errorf("hours(%v) = %q, want %q", d, got, want)
		}
	}
}
