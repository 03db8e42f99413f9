package directory

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"breachd/event"
)

// at stamps e with day's time h:m (UTC) and returns it.
func at(e *event.Event, hm string) *event.Event {
	c := *e
	d, err := time.ParseDuration(strings.Replace(hm, ":", "h", 1) + "m")
	if err != nil {
		panic(err)
	}
	c.Time = t0.Truncate(24 * time.Hour).Add(d)
	c.ID += "@" + hm
	return &c
}

func day(hm string) time.Time { return at(person("x"), hm).Time }

// orders returns every order of events (a handful).
func orders(events []*event.Event) [][]*event.Event {
	if len(events) <= 1 {
		return [][]*event.Event{slices.Clone(events)}
	}
	var out [][]*event.Event
	for i, e := range events {
		rest := slices.Delete(slices.Clone(events), i, i+1)
		for _, o := range orders(rest) {
			out = append(out, append([]*event.Event{e}, o...))
		}
	}
	return out
}

// TestTeachesAsOfRemoval is issue 15's case: the teacher's removal from the group at 14:30 is
// applied before an access at 08:26 is judged; the 08:26 access must see the teacher in the
// group, a 15:00 one must not, in whatever order the directory events came.
func TestTeachesAsOfRemoval(t *testing.T) {
	events := []*event.Event{
		at(add("kari", math8a, "u", RoleFaculty), "07:00"),
		at(add("ola", math8a, "u", RoleStudent), "07:00"),
		at(remove("kari", math8a), "14:30"),
	}
	for _, order := range orders(events) {
		d := New()
		apply(t, d, order...)
		if !d.At(day("08:26")).Teaches("kari", "ola") {
			t.Errorf("order %v: at 08:26 kari does not teach ola", ids(order))
		}
		if d.At(day("15:00")).Teaches("kari", "ola") || d.Teaches("kari", "ola") {
			t.Errorf("order %v: after the 14:30 removal kari still teaches ola", ids(order))
		}
		if _, ok := d.At(day("14:30")).IsMember("kari", math8a); ok {
			t.Errorf("order %v: kari a member at the removal's own time", ids(order))
		}
		// Before the first registration, the registration stands (doc.go's trade-off).
		if !d.At(day("06:00")).Teaches("kari", "ola") {
			t.Errorf("order %v: at 06:00, before the 07:00 registration, kari does not teach ola", ids(order))
		}
	}
}

// TestGuardianBlockedAsOf: a guardian blocked at 12:00 may read the child's record at 11:00,
// not at 13:00, whatever the order the events arrive in; a guardianship only ever blocked is
// blocked before its first event too.
func TestGuardianBlockedAsOf(t *testing.T) {
	events := []*event.Event{
		at(guardian("g1", "ola", StatusActive), "06:00"),
		at(guardian("g1", "ola", StatusBlocked), "12:00"),
		at(guardian("g2", "ola", StatusBlocked), "12:00"),
	}
	for _, order := range orders(events) {
		d := New()
		apply(t, d, order...)
		for _, c := range []struct {
			g, hm, want string
		}{{"g1", "05:00", StatusActive}, {"g1", "11:00", StatusActive}, {"g1", "12:00", StatusBlocked}, {"g1", "13:00", StatusBlocked}, {"g2", "11:00", StatusBlocked}} {
			if got := d.At(day(c.hm)).GuardianStatus(c.g, "ola"); got != c.want {
				t.Errorf("order %v: %s at %s = %q, want %q", ids(order), c.g, c.hm, got, c.want)
			}
		}
		if got := d.GuardianStatus("g1", "ola"); got != StatusBlocked {
			t.Errorf("order %v: current status %q, want blocked", ids(order), got)
		}
	}
}

// TestSameNINAsOf: a NIN collision that existed only from 10:00 to 11:00 is seen by an event in
// that hour and by no other: b's NIN was set to a's by mistake and then corrected.
func TestSameNINAsOf(t *testing.T) {
	n1, n2, n3 := fmt.Sprintf("%064x", 1), "short-form-2", fmt.Sprintf("%064x", 3)
	events := []*event.Event{
		at(withNIN("a", n1), "08:00"),
		at(withNIN("b", n2), "08:00"),
		at(withNIN("b", n1), "10:00"),
		at(withNIN("b", n3), "11:00"),
	}
	for _, order := range orders(events) {
		d := New()
		apply(t, d, order...)
		checkCollision(t, d, ids(order))
	}
	// Corrected back to its old value: b's NIN n2 is asserted twice, the collision between them
	// (a catalogue that applied both first keeps that n2 held before 11:00, not when).
	events[3] = at(withNIN("b", n2), "11:00")
	for _, order := range orders(events) {
		d := New()
		apply(t, d, order...)
		checkCollision(t, d, ids(order))
	}
}

func checkCollision(t *testing.T, d *Directory, order []string) {
	t.Helper()
	for _, c := range []struct {
		hm   string
		want []string
	}{{"07:00", nil}, {"09:59", nil}, {"10:00", []string{"b"}}, {"10:30", []string{"b"}}, {"11:00", nil}, {"12:00", nil}} {
		if got := d.At(day(c.hm)).SameNIN("a"); !slices.Equal(got, c.want) {
			t.Errorf("order %v: SameNIN(a) at %s = %v, want %v", order, c.hm, got, c.want)
		}
	}
	if got := d.At(day("10:30")).SameNIN("b"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("order %v: SameNIN(b) at 10:30 = %v, want [a]", order, got)
	}
	if got := d.SameNIN("a"); got != nil {
		t.Errorf("order %v: current SameNIN(a) = %v, want none", order, got)
	}
	if p, _ := d.At(day("10:30")).Person("b"); p.NINHash != fmt.Sprintf("%064x", 1) {
		t.Errorf("order %v: b's NIN at 10:30 = %q", order, p.NINHash)
	}
}

func ids(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// TestTiesAppliedLaterWins: two versions of a fact at the same second: the one applied later
// is the fact's version from then on.
func TestTiesAppliedLaterWins(t *testing.T) {
	d := New()
	apply(t, d, at(add("kari", math8a, "u", RoleFaculty), "09:00"), at(remove("kari", math8a), "09:00"))
	if _, ok := d.At(day("09:00")).IsMember("kari", math8a); ok {
		t.Error("add then remove at 09:00: still a member")
	}
	apply(t, d, at(add("kari", math8a, "u", RoleFaculty), "09:00"))
	if _, ok := d.At(day("09:00")).IsMember("kari", math8a); !ok {
		t.Error("remove then add at 09:00: not a member")
	}
}

// TestRepeatedValueMovesTimeForward: a fact asserted again later (a re-sent snapshot) adds no
// version, and a change older than the repeat does not become the current value.
func TestRepeatedValueMovesTimeForward(t *testing.T) {
	d := New()
	apply(t, d, at(guardian("g", "ola", StatusActive), "06:00"), at(guardian("g", "ola", StatusActive), "12:00"))
	if st := d.Stats(); st.Versioned != 0 {
		t.Fatalf("a repeated value kept %d versions", st.Versioned)
	}
	apply(t, d, at(guardian("g", "ola", StatusBlocked), "09:00"))
	if got := d.GuardianStatus("g", "ola"); got != StatusActive {
		t.Errorf("current status %q: the 09:00 change overrode the 12:00 assertion", got)
	}
	if got := d.At(day("10:00")).GuardianStatus("g", "ola"); got != StatusBlocked {
		t.Errorf("status at 10:00 %q, want blocked", got)
	}
}

// TestEarlierRepeatKept: an assertion of a fact's value older than the one held, arriving late,
// is kept (within the horizon), so that a change between the two, arriving last, is placed
// between them.
func TestEarlierRepeatKept(t *testing.T) {
	d := New()
	apply(t, d, at(guardian("g", "ola", StatusActive), "11:00"), at(guardian("g", "ola", StatusActive), "08:00"),
		at(guardian("g", "ola", StatusBlocked), "10:00"))
	for _, c := range []struct{ hm, want string }{{"07:00", StatusActive}, {"09:00", StatusActive}, {"10:30", StatusBlocked}, {"11:00", StatusActive}} {
		if got := d.At(day(c.hm)).GuardianStatus("g", "ola"); got != c.want {
			t.Errorf("status at %s = %q, want %q", c.hm, got, c.want)
		}
	}
	if got := d.GuardianStatus("g", "ola"); got != StatusActive {
		t.Errorf("current status %q, want active (asserted last at 11:00)", got)
	}
}

// TestLateChangeBetweenSnapshots: a membership asserted by two daily snapshots and a removal
// between them that arrives after both (a log of directory changes shipped late). The repeat
// keeps no version, but that the membership held before it: the removal holds from its time
// until the second snapshot, and the membership before it.
func TestLateChangeBetweenSnapshots(t *testing.T) {
	day1 := at(add("kari", math8a, "u", RoleFaculty), "06:00")
	day2 := at(add("kari", math8a, "u", RoleFaculty), "06:00")
	day2.Time, day2.ID = day2.Time.Add(24*time.Hour), day2.ID+"+1d"
	d := New()
	apply(t, d, day1, day2, at(remove("kari", math8a), "14:30"))
	for _, c := range []struct {
		when time.Time
		want bool
	}{{day("05:00"), true}, {day("10:00"), true}, {day("15:00"), false}, {day("15:00").Add(24 * time.Hour), true}} {
		if _, ok := d.At(c.when).IsMember("kari", math8a); ok != c.want {
			t.Errorf("member as of %s = %v, want %v", c.when.Format(time.DateTime), ok, c.want)
		}
	}
	if _, ok := d.IsMember("kari", math8a); !ok {
		t.Error("not a member after the second snapshot")
	}
}
