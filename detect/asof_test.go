package detect_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"breachd/deploy"
	"breachd/detect"
	"breachd/directory"
	"breachd/event"
	"breachd/rules"
)

// rebuiltDetector builds a detector as deploy does on a process's start: the default rule pack
// on a directory rebuilt from history (Directory.Load of ReplayDirectory).
func rebuiltDetector(t *testing.T, in *deploy.Infra) *detect.Detector {
	t.Helper()
	set, err := rules.Default()
	if err != nil {
		t.Fatalf("default rule pack: %v", err)
	}
	dir := directory.New()
	if _, err := dir.Load(func(apply func(*event.Event) error) (int, error) {
		return in.History.ReplayDirectory(context.Background(), apply)
	}); err != nil {
		t.Fatalf("rebuild directory from history: %v", err)
	}
	d, err := detect.New(in.JS, newEngine(t, set, dir), dir, in.History, detect.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLateAccessJudgedAsOfItsTime is issue 15's false incident: a restarted detector, whose
// catalogue history has rebuilt with the teacher's removal from the class at 14:30, gets an
// access of 08:26 (redelivered after the crash, or a log shipped late). The teacher taught the
// pupil at 08:26, so no teacher-outside-groups alert; the 15:00 access after the removal has
// one.
func TestLateAccessJudgedAsOfItsTime(t *testing.T) {
	in := startInfra(t)
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	read := func(id string, at time.Duration) *event.Event {
		return &event.Event{Kind: event.KindAccess, ID: id, Time: day.Add(at), Org: realm, Actor: teacher, ActorRole: "teacher", Action: "view",
			Subject: pupil, Resource: "grades", Service: "lms", Group: class8a}
	}
	var first []*event.Event
	for _, e := range fixture() {
		if e.Kind == event.KindDirectory {
			first = append(first, e)
		}
	}
	first = append(first,
		&event.Event{Kind: event.KindDirectory, ID: "sas-rm", Time: day.Add(14*time.Hour + 30*time.Minute), Org: realm, Op: event.OpMembership,
			User: teacher, Group: class8a, GoType: "b", Role: "faculty", ContactTeacher: true, School: school, Change: "remove"},
		read("lms-1500", 15*time.Hour))
	publish(t, in.JS, first)
	stop := run(t, rebuiltDetector(t, in))
	waitWritten(t, in, "lms-1500")
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	publish(t, in.JS, []*event.Event{read("lms-0826", 8*time.Hour+26*time.Minute)})
	stop = run(t, rebuiltDetector(t, in))
	waitWritten(t, in, "lms-0826")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]uint64{"lms-1500": 1, "lms-0826": 0} {
		q := fmt.Sprintf("SELECT count() FROM alerts FINAL WHERE rule_id = 'teacher-outside-groups' AND event_id = '%s'", id)
		if n := count(t, in, q); n != want {
			t.Errorf("teacher-outside-groups alerts for %s: %d, want %d", id, n, want)
		}
	}
}

// waitWritten waits until the access id is in history and the detector has acked it (after
// its alerts were written).
func waitWritten(t *testing.T, in *deploy.Infra, id string) {
	t.Helper()
	q := fmt.Sprintf("SELECT count() FROM access_events WHERE id = '%s'", id)
	for deadline := time.Now().Add(2 * time.Minute); count(t, in, q) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("access %s not in history after 2 min", id)
		}
	}
	waitIdle(t, in.JS)
}
