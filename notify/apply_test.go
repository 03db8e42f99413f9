package notify

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"breachd/event"
)

var t0 = time.Date(2026, 11, 2, 8, 1, 0, 0, time.UTC)

func testAlert(id, rule string, sev event.Severity) *event.Alert {
	return &event.Alert{
		ID: id, RuleID: rule, Severity: sev, Org: "bergen.kommune.no", Account: "ola@bergen.kommune.no",
		EventID: "ev-" + id, EventKind: event.KindAccess, EventTime: t0.Add(-time.Hour),
		Detected: t0.Add(-time.Minute), Summary: "summary of " + id,
	}
}

func TestIncidentID(t *testing.T) {
	a := testAlert("al-1", "r", event.SeverityHigh)
	id := newIncidentID(a, t0, 0)
	if !regexp.MustCompile(`^INC-20261102-[0-9a-f]{8}$`).MatchString(id) {
		t.Fatalf("id %q has the wrong form", id)
	}
	if again := newIncidentID(a, t0.Add(48*time.Hour), 0); again != id {
		t.Errorf("id depends on the clock: %s vs %s", id, again)
	}
	if salted := newIncidentID(a, t0, 1); salted == id || !ValidID(salted) {
		t.Errorf("salted id %q", salted)
	}
	b := *a
	b.Account = "kari@bergen.kommune.no"
	if newIncidentID(&b, t0, 0) == id {
		t.Error("different accounts share an id")
	}
}

func TestDecodeAlert(t *testing.T) {
	for _, tc := range []struct {
		name, json, err string
	}{
		{"ok", `{"id":"a","rule_id":"r","severity":"low","org":"o","account":"u"}`, ""},
		{"not json", `{"id":`, "decode alert"},
		{"no id", `{"rule_id":"r","severity":"low","org":"o","account":"u"}`, "without id"},
		{"no org", `{"id":"a","rule_id":"r","severity":"low","account":"u"}`, "no org"},
		{"no account", `{"id":"a","rule_id":"r","severity":"low","org":"o"}`, "no account"},
		{"no rule", `{"id":"a","severity":"low","org":"o","account":"u"}`, "no rule"},
		{"bad severity", `{"id":"a","rule_id":"r","severity":"huge","org":"o","account":"u"}`, "unknown severity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeAlert([]byte(tc.json))
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestAddAlert(t *testing.T) {
	a1 := testAlert("a1", "r1", event.SeverityMedium)
	a1.Subject = "pupil-b"
	inc, ref := openIncident("INC-20261102-00000000", a1, t0)
	if ref.Version != 1 || inc.Version != 1 || inc.AlertCount != 1 || inc.State != event.StateDetected {
		t.Fatalf("opened: ref %+v, incident %+v", ref, inc)
	}
	if !inc.Deadline.Equal(t0.Add(72*time.Hour)) || !inc.Aware.Equal(t0) || !inc.Opened.Equal(t0) {
		t.Errorf("opened %v aware %v deadline %v", inc.Opened, inc.Aware, inc.Deadline)
	}
	if len(inc.Timeline) != 1 || inc.Timeline[0].Kind != event.TimelineOpened {
		t.Errorf("timeline %+v", inc.Timeline)
	}

	// Raised severity, a second subject, a response request, an earlier event.
	a2 := testAlert("a2", "r2", event.SeverityCritical)
	a2.Subject, a2.Respond, a2.EventTime = "pupil-a", true, t0.Add(-3*time.Hour)
	ref = addAlert(inc, a2, t0.Add(time.Minute))
	if ref.RaisedFrom != event.SeverityMedium || !ref.Respond || ref.Version != 2 {
		t.Errorf("ref %+v", ref)
	}
	if inc.Severity != event.SeverityCritical || !inc.RespondRequested || inc.FirstSeen != a2.EventTime ||
		inc.LastSeen != a1.EventTime || fmt.Sprint(inc.Subjects) != "[pupil-a pupil-b]" {
		t.Errorf("incident %+v", inc)
	}
	last := inc.Timeline[len(inc.Timeline)-1]
	if last.Kind != event.TimelineAction || !strings.HasPrefix(last.Text, "deactivation requested") {
		t.Errorf("last timeline entry %+v", last)
	}

	// A lower severity does not lower it; a second response request is not recorded again.
	a3 := testAlert("a3", "r1", event.SeverityLow)
	a3.Respond = true
	if ref = addAlert(inc, a3, t0); ref.RaisedFrom != "" || ref.Respond || inc.Severity != event.SeverityCritical {
		t.Errorf("ref %+v severity %s", ref, inc.Severity)
	}
	if inc.Rules["r1"] != 2 || inc.Rules["r2"] != 1 || inc.AlertCount != 3 {
		t.Errorf("rules %v count %d", inc.Rules, inc.AlertCount)
	}
}

func TestAddAlertBounds(t *testing.T) {
	inc, _ := openIncident("INC-20261102-00000000", testAlert("a0", "r", event.SeverityLow), t0)
	const n = 1200
	for i := 1; i <= n; i++ {
		a := testAlert(fmt.Sprintf("a%d", i), "r", event.SeverityLow)
		a.Subject = fmt.Sprintf("s%04d", i)
		a.Summary = strings.Repeat("æ", 400)
		addAlert(inc, a, t0)
	}
	if len(inc.Subjects) != maxSubjects || !inc.SubjectsTruncated || inc.SubjectsOmitted != n-maxSubjects {
		t.Errorf("subjects %d truncated %v omitted %d", len(inc.Subjects), inc.SubjectsTruncated, inc.SubjectsOmitted)
	}
	if len(inc.RecentAlerts) != maxRecentAlerts || inc.RecentAlerts[maxRecentAlerts-1].ID != fmt.Sprintf("a%d", n) {
		t.Errorf("recent alerts %d", len(inc.RecentAlerts))
	}
	if len(inc.Timeline) != 1+maxTimelineAlerts || inc.TimelineOmitted != n-maxTimelineAlerts {
		t.Errorf("timeline %d omitted %d", len(inc.Timeline), inc.TimelineOmitted)
	}
	for _, e := range inc.Timeline {
		if len(e.Text) > maxTextLen+len("…") || !strings.HasSuffix(e.Text, "…") && len(e.Text) > maxTextLen {
			t.Fatalf("timeline text not clipped: %d bytes", len(e.Text))
		}
	}
	if _, ok := inc.AlertRef("a1"); ok {
		t.Error("the oldest alert ids should have been dropped")
	}
	if inc.AlertCount != n+1 || inc.Version != n+1 {
		t.Errorf("count %d version %d", inc.AlertCount, inc.Version)
	}
}
