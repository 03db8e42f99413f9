package rules

import (
	"context"
	"slices"
	"testing"
	"time"

	"breachd/directory"
	"breachd/event"
)

// at is t0's day at h:m (UTC).
func at(hm string) time.Time {
	d, err := time.ParseDuration(hm[:2] + "h" + hm[3:] + "m")
	if err != nil {
		panic(err)
	}
	return t0.Truncate(24 * time.Hour).Add(d)
}

func dirEvent(id, hm string, e event.Event) *event.Event {
	e.Kind, e.ID, e.Time, e.Org = event.KindDirectory, id, at(hm), "ex.no"
	return &e
}

func access(id, hm, actor, role, subject, resource string) *event.Event {
	return &event.Event{Kind: event.KindAccess, ID: id, Time: at(hm), Org: "ex.no", Actor: actor, ActorRole: role, Action: "view",
		Subject: subject, Resource: resource, Service: "lms", Group: "g:8a-mat"}
}

// run applies and evaluates stream in order, as the detector does, and returns the ids of the
// events rule raised an alert for.
func run(t *testing.T, rule string, stream ...*event.Event) []string {
	t.Helper()
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New()
	g := mustEngine(t, set, dir, nil)
	var out []string
	for _, e := range stream {
		if err := dir.Apply(e); err != nil {
			t.Fatal(err)
		}
		for _, a := range g.Evaluate(context.Background(), e) {
			if a.RuleID == rule {
				out = append(out, a.EventID)
			}
		}
	}
	return out
}

// TestRulesSeeDirectoryAsOfEventTime is issue 15's false incident: the batch holding an 08:26
// access was redelivered after the teacher's removal from the group at 14:30 had been applied.
// The access is judged against the directory of 08:26 (no alert); an access at 15:00, after
// the removal, alerts.
func TestRulesSeeDirectoryAsOfEventTime(t *testing.T) {
	school := []*event.Event{
		dirEvent("p-kari", "07:00", event.Event{Op: event.OpPerson, User: "kari@ex.no", Affiliations: []string{"faculty", "employee"}}),
		dirEvent("p-ola", "07:00", event.Event{Op: event.OpPerson, User: "ola@ex.no", Affiliations: []string{"student"}}),
		dirEvent("m-kari", "07:00", event.Event{Op: event.OpMembership, User: "kari@ex.no", Group: "g:8a-mat", GoType: "u", Role: "faculty", Change: "add"}),
		dirEvent("m-ola", "07:00", event.Event{Op: event.OpMembership, User: "ola@ex.no", Group: "g:8a-mat", GoType: "u", Role: "student", Change: "add"}),
	}
	removal := dirEvent("rm-kari", "14:30", event.Event{Op: event.OpMembership, User: "kari@ex.no", Group: "g:8a-mat", Change: "remove"})
	early := access("a-0826", "08:26", "kari@ex.no", "teacher", "ola@ex.no", "grades")
	late := access("a-1500", "15:00", "kari@ex.no", "teacher", "ola@ex.no", "grades")

	for _, c := range []struct {
		name   string
		stream []*event.Event
		want   []string
	}{
		{"in time order", []*event.Event{early, removal, late}, []string{"a-1500"}},
		{"the 08:26 access redelivered after the removal", []*event.Event{removal, late, early}, []string{"a-1500"}},
		{"the removal before both", []*event.Event{removal, early, late}, []string{"a-1500"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := run(t, "teacher-outside-groups", append(slices.Clone(school), c.stream...)...); !slices.Equal(got, c.want) {
				t.Errorf("alerts for %v, want %v", got, c.want)
			}
		})
	}
	// A registration first known from a later snapshot (stamped 09:00) stands for the 08:26
	// access too: a backfilled access is not taken for a stranger's (directory/doc.go).
	snapshot := slices.Clone(school)
	snapshot[2] = dirEvent("m-kari", "09:00", *school[2])
	if got := run(t, "teacher-outside-groups", append(snapshot, early)...); len(got) != 0 {
		t.Errorf("registration stamped after the access: alerts for %v, want none", got)
	}
}

// TestGuardianBlockedAsOfEventTime: a guardian blocked at 12:00 reading the child's record at
// 11:00 is fine, at 13:00 is an alert, whatever order the events arrive in — every order in
// which the relation (active since 06:00) is known before the reads. The 13:00 read alerts once
// the block is known; judged before the block arrives, it cannot.
func TestGuardianBlockedAsOfEventTime(t *testing.T) {
	active := dirEvent("g-active", "06:00", event.Event{Op: event.OpGuardianship, Guardian: "idporten:hash:7f3a", Child: "ola@ex.no", Status: "active"})
	blocked := dirEvent("g-blocked", "12:00", event.Event{Op: event.OpGuardianship, Guardian: "idporten:hash:7f3a", Child: "ola@ex.no", Status: "blocked"})
	r11 := access("r-1100", "11:00", "idporten:hash:7f3a", "guardian", "ola@ex.no", "absence")
	r13 := access("r-1300", "13:00", "idporten:hash:7f3a", "guardian", "ola@ex.no", "absence")
	events := []*event.Event{active, blocked, r11, r13}
	perm := []int{0, 1, 2, 3}
	tried := 0
	for ok := true; ok; ok = nextPerm(perm) {
		pos := func(i int) int { return slices.Index(perm, i) }
		if pos(0) > pos(2) || pos(0) > pos(3) {
			continue
		}
		tried++
		stream := make([]*event.Event, len(perm))
		for i, p := range perm {
			stream[i] = events[p]
		}
		var want []string
		if pos(1) < pos(3) {
			want = []string{"r-1300"}
		}
		if got := run(t, "guardian-blocked-access", stream...); !slices.Equal(got, want) {
			t.Errorf("order %v: alerts for %v, want %v", ids(stream), got, want)
		}
	}
	if tried != 8 {
		t.Fatalf("%d orders tried, want 8", tried)
	}
}

func ids(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// nextPerm advances p to its next permutation in lexicographic order; false after the last.
func nextPerm(p []int) bool {
	i := len(p) - 2
	for i >= 0 && p[i] >= p[i+1] {
		i--
	}
	if i < 0 {
		return false
	}
	j := len(p) - 1
	for p[j] <= p[i] {
		j--
	}
	p[i], p[j] = p[j], p[i]
	slices.Reverse(p[i+1:])
	return true
}
