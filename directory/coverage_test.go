package directory

import (
	"fmt"
	"testing"
	"time"

	"breachd/event"
)

// stamped returns a copy of e at time t, with an ID of its own.
func stamped(e *event.Event, t time.Time) *event.Event {
	c := *e
	c.Time, c.ID = t, fmt.Sprintf("%s@%s", e.ID, t.Format(time.DateTime))
	return &c
}

// A membership added at day 0, removed at day 1 and added again at day 20 (horizon 10 days) is
// not one as of day 12, whether the removal's versions have folded away (time order: a rebuild
// from history) or the events come in any other order in which none is more than the horizon
// late (doc.go: an older event is judged against what the catalogue still holds).
func TestReAddAfterRemovalFoldedAway(t *testing.T) {
	const horizon = 10 * 24 * time.Hour
	events := []*event.Event{
		stamped(add("kari", math8a, "u", RoleFaculty), t0),
		stamped(remove("kari", math8a), t0.Add(24*time.Hour)),
		stamped(person("z"), t0.Add(15*24*time.Hour)),
		stamped(add("kari", math8a, "u", RoleFaculty), t0.Add(20*24*time.Hour)),
	}
	for _, order := range orders(events) {
		if lateBeyond(order, horizon) {
			continue
		}
		d := New(WithHorizon(horizon))
		apply(t, d, order...)
		if _, ok := d.At(t0.Add(12*24*time.Hour)).IsMember("kari", math8a); ok {
			t.Errorf("order %v: a member at day 12, between the removal and the add", ids(order))
		}
		if _, ok := d.At(t0.Add(20*24*time.Hour)).IsMember("kari", math8a); !ok {
			t.Errorf("order %v: not a member at day 20, after the add", ids(order))
		}
	}
}

// A removal is kept a snapshot's span (coverGrace) beyond the horizon: an add within the org's
// first snapshot, after the removal, is a member from its time only, though the removal is
// behind the horizon when it arrives.
func TestRemovalKeptForAddWithinFirstSnapshot(t *testing.T) {
	d := New(WithHorizon(2 * time.Hour))
	apply(t, d, at(add("kari", math8a, "u", RoleFaculty), "06:00"), at(remove("kari", math8a), "07:00"),
		at(person("z"), "10:00"), at(add("kari", math8a, "u", RoleFaculty), "09:00"))
	if _, ok := d.At(day("08:30")).IsMember("kari", math8a); ok {
		t.Error("a member at 08:30, between the 07:00 removal and the 09:00 add")
	}
	if _, ok := d.At(day("09:30")).IsMember("kari", math8a); !ok {
		t.Error("not a member at 09:30, after the 09:00 add")
	}
}

// A fact first seen after its org's first snapshot did not hold before: an access at +1h is
// judged the same before and after the membership's first add at +7h arrives (the review's
// case). Facts of the first snapshot, and those within a snapshot's span of it, still hold
// before they were first seen (a backfill judged against a later imported snapshot).
func TestFirstSeenAfterOrgSnapshot(t *testing.T) {
	snapshot := t0.Add(-48 * time.Hour)
	access := t0.Add(time.Hour)
	first := []*event.Event{
		stamped(person("kari"), snapshot),
		stamped(add("ola", math8a, "u", RoleStudent), snapshot.Add(3*time.Hour)), // within the first snapshot
	}
	late := []*event.Event{
		stamped(add("kari", math8a, "u", RoleFaculty), t0.Add(7*time.Hour)),
		stamped(guardian("G", "ola", StatusActive), t0.Add(7*time.Hour)),
		stamped(withNIN("per", "raw-1"), t0.Add(7*time.Hour)),
	}
	judge := func(d *Directory) string {
		v := d.At(access)
		_, member := v.IsMember("kari", math8a)
		_, known := v.Person("per")
		return fmt.Sprintf("member=%v teaches=%v guardian=%q per=%v", member, v.Teaches("kari", "ola"), v.GuardianStatus("G", "ola"), known)
	}
	const want = `member=false teaches=false guardian="" per=false`
	d := New()
	apply(t, d, first...)
	before := judge(d)
	apply(t, d, late...)
	if after := judge(d); before != want || after != want {
		t.Errorf("as of the access, before the late facts arrived: %s; after: %s; want %s", before, after, want)
	}
	for _, e := range late { // from their time on, they hold
		if got := d.At(e.Time).Teaches("kari", "ola"); !got {
			t.Errorf("kari does not teach ola as of the add at %s", e.Time)
		}
	}
	if _, ok := d.At(snapshot.Add(-24*time.Hour)).IsMember("ola", math8a); !ok {
		t.Error("a membership of the org's first snapshot does not hold before it")
	}
	if _, ok := d.At(access).Person("kari"); !ok {
		t.Error("a person of the org's first snapshot is not known")
	}

	// Rebuilt in time order (Load), the same answers.
	r := New()
	apply(t, r, first[0], first[1], late[0], late[1], late[2])
	if got := judge(r); got != want {
		t.Errorf("in time order: %s, want %s", got, want)
	}
}

// An older assertion of every fact's unchanged value (a snapshot re-sent stamped earlier) keeps
// no version: the compact record's held bit says it, and a change between the two snapshots
// arriving later is still placed exactly.
func TestOlderSnapshotKeepsNoVersions(t *testing.T) {
	d := New()
	t1, t2 := t0, t0.Add(48*time.Hour)
	for _, ts := range []time.Time{t2, t1} {
		for i := range 1000 {
			apply(t, d, stamped(add(fmt.Sprintf("u%d", i), math8a, "u", RoleStudent), ts),
				stamped(guardian("G", fmt.Sprintf("u%d", i), StatusActive), ts),
				stamped(person(fmt.Sprintf("u%d", i)), ts))
		}
	}
	if st := d.Stats(); st.Versioned != 0 {
		t.Errorf("Versioned = %d after the older snapshot, want 0", st.Versioned)
	}
	apply(t, d, stamped(remove("u0", math8a), t0.Add(24*time.Hour)))
	for _, c := range []struct {
		at   time.Time
		want bool
	}{{t1, true}, {t0.Add(23 * time.Hour), true}, {t0.Add(25 * time.Hour), false}, {t2, true}} {
		if _, ok := d.At(c.at).IsMember("u0", math8a); ok != c.want {
			t.Errorf("member as of %s = %v, want %v", c.at, ok, c.want)
		}
	}
}

// An assertion of a fact's value older than the horizon sets the held bit as the general path
// would: the value held from then, so a change arriving later, within the horizon but before
// the value's latest assertion, holds only from its own time.
func TestOldAssertionBeyondHorizonHeld(t *testing.T) {
	d := New(WithHorizon(2 * time.Hour))
	apply(t, d,
		at(person("z"), "00:00"), // the org's first snapshot
		at(add("kari", math8a, "u", RoleFaculty), "09:00"),
		at(guardian("G", "ola", StatusActive), "09:00"),
		at(withNIN("kari", "raw-1"), "09:00"),
		at(person("z"), "10:00"),                           // floor: 08:00
		at(add("kari", math8a, "u", RoleFaculty), "07:00"), // older than the floor, same values
		at(guardian("G", "ola", StatusActive), "07:00"),
		at(withNIN("kari", "raw-1"), "07:00"),
		at(add("kari", math8a, "u", RoleStudent), "08:30"), // changes within the horizon
		at(guardian("G", "ola", StatusBlocked), "08:30"),
		at(withNIN("kari", "raw-2"), "08:30"),
	)
	v := d.At(day("08:15"))
	if role, _ := v.IsMember("kari", math8a); role != RoleFaculty {
		t.Errorf("role as of 08:15 %q, want faculty (asserted at 07:00, changed at 08:30)", role)
	}
	if got := v.GuardianStatus("G", "ola"); got != StatusActive {
		t.Errorf("guardian status as of 08:15 %q, want active", got)
	}
	if p, _ := v.Person("kari"); p.NINHash != "raw-1" {
		t.Errorf("NIN as of 08:15 %q, want raw-1", p.NINHash)
	}
	if role, _ := d.At(day("08:45")).IsMember("kari", math8a); role != RoleStudent {
		t.Errorf("role as of 08:45 %q, want student", role)
	}
}

// lateBeyond reports whether an event of order comes after one more than horizon newer.
func lateBeyond(order []*event.Event, horizon time.Duration) bool {
	var newest time.Time
	for _, e := range order {
		if e.Time.Add(horizon).Before(newest) {
			return true
		}
		if e.Time.After(newest) {
			newest = e.Time
		}
	}
	return false
}

// A school year's renewal: many facts first seen after their org's first snapshot, one version
// each, keep no history and nothing aside (the compact record's born bit and time say it), and
// each is absent before its time. Asserted again a day later (a re-sent snapshot), each keeps
// its first time aside, still no history; a change between the two arriving late is placed
// exactly; a horizon later the first times are dropped, and, as of before the floor, the facts'
// bases answer (doc.go), as they did when their absence before was a version that folded.
func TestRenewalKeepsNoVersions(t *testing.T) {
	const n = 1000
	const horizon = 30 * 24 * time.Hour
	renewal := t0.Add(200 * 24 * time.Hour)
	d := New(WithHorizon(horizon))
	apply(t, d, stamped(person("snapshot"), t0)) // the org's first snapshot
	renew := func(ts time.Time) {
		for i := range n {
			u := fmt.Sprintf("u%d", i)
			apply(t, d, stamped(add(u, math8a, "u", RoleStudent), ts), stamped(guardian("G", u, StatusActive), ts),
				stamped(withNIN(u, fmt.Sprintf("nin-%d", i%10)), ts))
		}
	}
	aside := func() int { return len(d.personFirst) + len(d.memberFirst) + len(d.relFirst) }
	judge := func(ts time.Time) string {
		v := d.At(ts)
		_, member := v.IsMember("u0", math8a)
		_, known := v.Person("u0")
		return fmt.Sprintf("member=%v groups=%d guardian=%q person=%v sameNIN=%d", member, len(v.GroupsOf("u0")),
			v.GuardianStatus("G", "u0"), known, len(v.SameNIN("u0")))
	}
	const absent, present = `member=false groups=0 guardian="" person=false sameNIN=0`,
		`member=true groups=1 guardian="active" person=true sameNIN=99`
	check := func(when string, ts time.Time, want string) {
		t.Helper()
		if got := judge(ts); got != want {
			t.Errorf("%s, as of %s: %s, want %s", when, ts.Format(time.DateTime), got, want)
		}
	}

	renew(renewal)
	apply(t, d, stamped(add("v0", math8a, "u", RoleStudent), renewal)) // not asserted again
	if st := d.Stats(); st.Versioned != 0 || aside() != 0 {
		t.Errorf("after the renewal: Versioned = %d, first times aside %d, want 0 and 0", st.Versioned, aside())
	}
	check("after the renewal", renewal.Add(-time.Second), absent)
	check("after the renewal", renewal, present)

	renew(renewal.Add(24 * time.Hour))
	if st := d.Stats(); st.Versioned != 0 || aside() != 3*n {
		t.Errorf("asserted again: Versioned = %d, first times aside %d, want 0 and %d", st.Versioned, aside(), 3*n)
	}
	check("asserted again", renewal.Add(-time.Second), absent)
	check("asserted again", renewal.Add(time.Hour), present)

	apply(t, d, stamped(add("u0", math8a, "u", RoleFaculty), renewal.Add(12*time.Hour))) // late, between the two
	for _, c := range []struct {
		at   time.Time
		want string
	}{{renewal.Add(-time.Second), ""}, {renewal.Add(time.Hour), RoleStudent}, {renewal.Add(13 * time.Hour), RoleFaculty},
		{renewal.Add(24 * time.Hour), RoleStudent}} {
		if role, _ := d.At(c.at).IsMember("u0", math8a); role != c.want {
			t.Errorf("after a late change, role as of %s %q, want %q", c.at.Format(time.DateTime), role, c.want)
		}
	}
	if st := d.Stats(); st.Versioned != 1 || aside() != 3*n-1 {
		t.Errorf("after a late change: Versioned = %d, first times aside %d, want 1 and %d", st.Versioned, aside(), 3*n-1)
	}

	apply(t, d, stamped(person("snapshot"), renewal.Add(horizon+48*time.Hour)))
	if st := d.Stats(); st.Versioned != 0 || aside() != 0 {
		t.Errorf("a horizon later: Versioned = %d, first times aside %d, want 0 and 0", st.Versioned, aside())
	}
	check("a horizon later", renewal.Add(horizon+48*time.Hour), present)
	check("a horizon later", renewal.Add(-time.Second), present)
	if _, ok := d.At(renewal.Add(-time.Second)).IsMember("v0", math8a); !ok {
		t.Error("a horizon later, a membership first seen at the renewal is not one before it: its base does not answer")
	}
}
