package directory

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"breachd/event"
)

var t0 = time.Date(2026, 11, 2, 7, 0, 0, 0, time.UTC)

func person(user string, affs ...string) *event.Event {
	return &event.Event{Kind: event.KindDirectory, ID: "p-" + user, Time: t0, Org: "x", Op: event.OpPerson, User: user, Affiliations: affs}
}

func member(user, group, goType, role string, contact bool, change string) *event.Event {
	return &event.Event{Kind: event.KindDirectory, ID: "m-" + user + group, Time: t0, Org: "x", Op: event.OpMembership,
		User: user, Group: group, GoType: goType, Role: role, ContactTeacher: contact, Change: change}
}

func add(user, group, goType, role string) *event.Event {
	return member(user, group, goType, role, false, "add")
}

func remove(user, group string) *event.Event {
	return member(user, group, "", RoleStudent, false, "remove")
}

func guardian(g, c, status string) *event.Event {
	return &event.Event{Kind: event.KindDirectory, ID: "g-" + g + c, Time: t0, Org: "x", Op: event.OpGuardianship, Guardian: g, Child: c, Status: status}
}

func apply(t *testing.T, d *Directory, events ...*event.Event) {
	t.Helper()
	for _, e := range events {
		if err := d.Apply(e); err != nil {
			t.Fatalf("Apply(%s): %v", e.ID, err)
		}
	}
}

const (
	math8a = "fc:gogroup:x:u:NO1:8a-mat:2026-08-15:2027-06-20"
	class8 = "fc:gogroup:x:b:NO1:8a:2026-08-15:2027-06-20"
)

func TestTeaches(t *testing.T) {
	base := []*event.Event{add("kari", math8a, "u", RoleFaculty), add("ola", math8a, "u", RoleStudent), add("per", class8, "b", RoleStudent)}
	tests := []struct {
		name    string
		extra   []*event.Event
		teacher string
		pupil   string
		want    bool
	}{
		{"teacher of pupil's group", nil, "kari", "ola", true},
		{"pupil in another group", nil, "kari", "per", false},
		{"reversed roles", nil, "ola", "kari", false},
		{"unknown teacher", nil, "nobody", "ola", false},
		{"same account", nil, "kari", "kari", false},
		{"teacher removed from group", []*event.Event{remove("kari", math8a)}, "kari", "ola", false},
		{"pupil removed from group", []*event.Event{remove("ola", math8a)}, "kari", "ola", false},
		{"substitute added to group", []*event.Event{add("sub", math8a, "u", RoleFaculty)}, "sub", "ola", true},
		{"two students share a group", []*event.Event{add("kim", math8a, "u", RoleStudent)}, "kim", "ola", false},
		{"role changed to student", []*event.Event{add("kari", math8a, "u", RoleStudent)}, "kari", "ola", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New()
			apply(t, d, base...)
			apply(t, d, tt.extra...)
			if got := d.Teaches(tt.teacher, tt.pupil); got != tt.want {
				t.Errorf("Teaches(%s, %s) = %v, want %v", tt.teacher, tt.pupil, got, tt.want)
			}
		})
	}
}

func TestContactTeacherOf(t *testing.T) {
	tests := []struct {
		name   string
		events []*event.Event
		want   bool
	}{
		{"contact teacher of class", []*event.Event{member("kari", class8, "b", RoleFaculty, true, "add"), add("ola", class8, "b", RoleStudent)}, true},
		{"teacher of class, not contact", []*event.Event{add("kari", class8, "b", RoleFaculty), add("ola", class8, "b", RoleStudent)}, false},
		{"contact flag on a teaching group", []*event.Event{member("kari", math8a, "u", RoleFaculty, true, "add"), add("ola", math8a, "u", RoleStudent)}, false},
		{"contact teacher removed", []*event.Event{member("kari", class8, "b", RoleFaculty, true, "add"), add("ola", class8, "b", RoleStudent), remove("kari", class8)}, false},
		{"contact flag withdrawn by re-add", []*event.Event{member("kari", class8, "b", RoleFaculty, true, "add"), add("ola", class8, "b", RoleStudent), add("kari", class8, "b", RoleFaculty)}, false},
		{"pupil in another class", []*event.Event{member("kari", class8, "b", RoleFaculty, true, "add"), add("ola", "other", "b", RoleStudent)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New()
			apply(t, d, tt.events...)
			if got := d.ContactTeacherOf("kari", "ola"); got != tt.want {
				t.Errorf("ContactTeacherOf = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGuardianStatus(t *testing.T) {
	tests := []struct {
		name   string
		events []*event.Event
		want   string
	}{
		{"no relation", nil, ""},
		{"active", []*event.Event{guardian("mor", "ola", StatusActive)}, StatusActive},
		{"blocked after active", []*event.Event{guardian("mor", "ola", StatusActive), guardian("mor", "ola", StatusBlocked)}, StatusBlocked},
		{"removed", []*event.Event{guardian("mor", "ola", StatusRemoved)}, StatusRemoved},
		{"reinstated", []*event.Event{guardian("mor", "ola", StatusBlocked), guardian("mor", "ola", StatusActive)}, StatusActive},
		{"other child only", []*event.Event{guardian("mor", "kim", StatusActive)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New()
			apply(t, d, tt.events...)
			if got := d.GuardianStatus("mor", "ola"); got != tt.want {
				t.Errorf("GuardianStatus = %q, want %q", got, tt.want)
			}
		})
	}
}

func withNIN(user, nin string) *event.Event {
	e := person(user, "student")
	e.NINHash = nin
	return e
}

func TestSameNIN(t *testing.T) {
	tests := []struct {
		name   string
		events []*event.Event
		user   string
		want   []string
	}{
		{"unique", []*event.Event{withNIN("a", "h1"), withNIN("b", "h2")}, "a", nil},
		{"shared", []*event.Event{withNIN("a", "h1"), withNIN("b", "h1"), withNIN("c", "h1")}, "a", []string{"b", "c"}},
		{"empty hash never matches", []*event.Event{withNIN("a", ""), withNIN("b", "")}, "a", nil},
		{"changed away", []*event.Event{withNIN("a", "h1"), withNIN("b", "h1"), withNIN("b", "h2")}, "a", nil},
		{"cleared", []*event.Event{withNIN("a", "h1"), withNIN("b", "h1"), withNIN("b", "")}, "a", nil},
		{"unknown user", []*event.Event{withNIN("a", "h1")}, "zz", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New()
			apply(t, d, tt.events...)
			if got := d.SameNIN(tt.user); !slices.Equal(got, tt.want) {
				t.Errorf("SameNIN(%s) = %v, want %v", tt.user, got, tt.want)
			}
		})
	}
}

func TestPersonAndMemberships(t *testing.T) {
	d := New()
	hidden := person("ola", "student", "member")
	hidden.PrimaryAffiliation, hidden.HiddenIdentity, hidden.Schools = "student", true, []string{"NO1"}
	off := false
	hidden.Active = &off
	apply(t, d, add("ola", class8, "b", RoleStudent))
	if p, ok := d.Person("ola"); ok || p.BasisStudentGroups != 1 {
		t.Fatalf("before person event: ok=%v counts=%+v, want ok=false and one basis group", ok, p)
	}
	apply(t, d, hidden, add("ola", math8a, "u", RoleStudent))
	p, ok := d.Person("ola")
	if !ok || p.Org != "x" || !p.HiddenIdentity || p.Active || p.PrimaryAffiliation != "student" || !p.HasAffiliation("member") ||
		p.StudentGroups != 2 || p.BasisStudentGroups != 1 || p.FacultyGroups != 0 {
		t.Fatalf("Person = %+v, %v", p, ok)
	}
	hidden.Affiliations[0] = "faculty" // the catalogue keeps its own copy
	if p, _ := d.Person("ola"); !p.HasAffiliation("student") {
		t.Errorf("Person shares the event's slice: %v", p.Affiliations)
	}
	if role, ok := d.IsMember("ola", math8a); !ok || role != RoleStudent {
		t.Errorf("IsMember = %q, %v", role, ok)
	}
	apply(t, d, remove("ola", math8a), remove("ola", math8a), remove("nobody", math8a))
	if _, ok := d.IsMember("ola", math8a); ok {
		t.Error("IsMember after remove")
	}
	if gs := d.GroupsOf("ola"); len(gs) != 1 || gs[0].Group != class8 || gs[0].GoType != "b" {
		t.Errorf("GroupsOf = %+v", gs)
	}
	apply(t, d, add("kari", class8, "b", RoleFaculty), add("kari", math8a, "u", RoleFaculty))
	if got := d.SharedGroups("kari", "ola"); !slices.Equal(got, []string{class8}) {
		t.Errorf("SharedGroups = %v", got)
	}
	if _, ok := d.Person("nobody"); ok {
		t.Error("unknown person reported known")
	}
	// The two removals are kept (within the horizon) so that a late add cannot undo them.
	want := Stats{Persons: 1, Groups: 2, Memberships: 3, Guardianships: 0, Versioned: 2}
	if got := d.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestApplyIgnoresAndRejects(t *testing.T) {
	d := New()
	if err := d.Apply(&event.Event{Kind: event.KindAuth, User: "a"}); err != nil {
		t.Errorf("auth event: %v", err)
	}
	bad := []*event.Event{
		{Kind: event.KindDirectory, Op: "bogus"},
		{Kind: event.KindDirectory, Op: event.OpPerson},
		member("a", "g", "u", "janitor", false, "add"),
		member("a", "g", "u", RoleStudent, false, "move"),
		guardian("g", "c", "maybe"),
		guardian("", "c", StatusActive),
	}
	for i, e := range bad {
		if err := d.Apply(e); err == nil {
			t.Errorf("case %d: Apply(%+v) = nil, want error", i, e)
		}
	}
	if s := d.Stats(); s != (Stats{}) {
		t.Errorf("rejected events changed the catalogue: %+v", s)
	}
}

func TestStatsCountsGuardianshipsOnce(t *testing.T) {
	d := New()
	for i := range 3 {
		apply(t, d, guardian("mor", fmt.Sprint("c", i), StatusActive), guardian("mor", fmt.Sprint("c", i), StatusBlocked))
	}
	if got := d.Stats().Guardianships; got != 3 {
		t.Errorf("Guardianships = %d, want 3", got)
	}
}

// TestConcurrentApplyAndQueries is meant for `go test -race`: one writer applies a stream of
// changes while readers ask every query.
func TestConcurrentApplyAndQueries(t *testing.T) {
	d := New(WithHorizon(6 * time.Hour))
	const n = 2000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			u := fmt.Sprint("u", i%50)
			g := fmt.Sprint("g", i%7)
			for _, e := range []*event.Event{
				withNIN(u, fmt.Sprint("h", i%13)),
				add(u, g, "b", []string{RoleStudent, RoleFaculty}[i%2]),
				guardian(fmt.Sprint("p", i%11), u, []string{StatusActive, StatusBlocked, StatusRemoved}[i%3]),
			} {
				e.Time = t0.Add(time.Duration(i) * time.Minute) // versions, folded as the horizon passes
				if err := d.Apply(e); err != nil {
					t.Error(err)
					return
				}
			}
			if i%3 == 0 {
				e := remove(u, g)
				e.Time = t0.Add(time.Duration(i)*time.Minute + time.Second)
				_ = d.Apply(e)
			}
		}
	}()
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				a, b := fmt.Sprint("u", (i+r)%50), fmt.Sprint("u", (i*7+r)%50)
				v := d.At(t0.Add(time.Duration(i*r) * time.Minute / 2)) // as of a time, current for r = 0
				if r == 0 {
					v = d.now()
				}
				p, _ := v.Person(a)
				_ = len(p.Affiliations) + p.StudentGroups
				v.Teaches(a, b)
				v.ContactTeacherOf(a, b)
				v.SharedGroups(a, b)
				v.GroupsOf(a)
				v.IsMember(a, "g1")
				v.GuardianStatus(fmt.Sprint("p", i%11), a)
				v.SameNIN(a)
				d.Stats()
			}
		}()
	}
	wg.Wait()
	if s := d.Stats(); s.Persons != 50 || s.Guardianships == 0 {
		t.Errorf("Stats after run = %+v", s)
	}
}
