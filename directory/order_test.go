package directory

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"breachd/event"
)

// A small federation whose facts each get a few versions at distinct times with distinct
// values (doc.go: a value repeated at a later time is the one case answered approximately when
// a change between the two arrives after both).
var (
	orderUsers     = []string{"u0@r.no", "u1@r.no", "u2@r.no"}
	orderGroups    = []string{"gu", "gb"}
	orderGuardians = []string{"G0", "G1"}
)

// randomFacts returns the versions of a random set of facts: per fact 1–3 events at distinct
// times of one day, with distinct values.
func randomFacts(rng *rand.Rand) []*event.Event {
	var evs []*event.Event
	times := func() []time.Time {
		n := 1 + rng.IntN(3)
		var ts []time.Time
		for len(ts) < n {
			t := t0.Truncate(24 * time.Hour).Add(time.Duration(6*60+rng.IntN(10)*30) * time.Minute)
			if !slices.Contains(ts, t) {
				ts = append(ts, t)
			}
		}
		return ts
	}
	nins := []string{fmt.Sprintf("%064x", 1), "raw-2", ""}
	for _, u := range orderUsers {
		if rng.IntN(4) == 0 {
			continue
		}
		vals := rng.Perm(6)
		for i, t := range times() {
			e := withNIN(u, nins[vals[i]%3])
			e.Affiliations = [][]string{{"student"}, {"faculty", "employee"}}[vals[i]/3]
			e.Time, e.ID = t, fmt.Sprintf("%s-%d", e.ID, i)
			evs = append(evs, e)
		}
		for _, g := range orderGroups {
			if rng.IntN(3) == 0 {
				continue
			}
			goType := g[1:]
			vals := rng.Perm(4)
			for i, t := range times() {
				var e *event.Event
				switch vals[i] {
				case 0:
					e = remove(u, g)
				case 1:
					e = add(u, g, goType, RoleStudent)
				case 2:
					e = add(u, g, goType, RoleFaculty)
				case 3:
					e = member(u, g, goType, RoleFaculty, true, "add")
				}
				e.Time, e.ID = t, fmt.Sprintf("%s-%d", e.ID, i)
				evs = append(evs, e)
			}
		}
	}
	for _, g := range orderGuardians {
		for _, c := range orderUsers[:2] {
			if rng.IntN(2) == 0 {
				continue
			}
			vals := rng.Perm(3)
			for i, t := range times() {
				e := guardian(g, c, statuses[1+vals[i]])
				e.Time, e.ID = t, fmt.Sprintf("%s-%d", e.ID, i)
				evs = append(evs, e)
			}
		}
	}
	return evs
}

// factOf names the fact an event states a version of.
func factOf(e *event.Event) string {
	switch e.Op {
	case event.OpPerson:
		return "p " + e.User
	case event.OpMembership:
		return "m " + e.User + " " + e.Group
	}
	return "g " + e.Guardian + " " + e.Child
}

// oracle is the meaning of as-of(t) built the plain way: the version of each fact in force at
// t (the latest at or before t; else the earliest, when the fact's first version came with its
// org's first snapshot, within coverGrace of the org's first event, and none otherwise),
// applied to a catalogue that keeps no versions; its current state is the answer.
func oracle(evs []*event.Event, t time.Time) *Directory {
	byFact := map[string][]*event.Event{}
	orgFirst := map[string]time.Time{}
	for _, e := range evs {
		byFact[factOf(e)] = append(byFact[factOf(e)], e)
		if f, ok := orgFirst[e.Org]; !ok || e.Time.Before(f) {
			orgFirst[e.Org] = e.Time
		}
	}
	d := New(WithHorizon(0))
	for _, f := range slices.Sorted(func(yield func(string) bool) {
		for k := range byFact {
			if !yield(k) {
				return
			}
		}
	}) {
		vs := byFact[f]
		slices.SortStableFunc(vs, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
		in := vs[0]
		if in.Time.After(t) && in.Time.Sub(orgFirst[in.Org]) > time.Duration(coverGrace)*time.Second {
			continue // not held before its first version
		}
		for _, e := range vs {
			if !e.Time.After(t) {
				in = e
			}
		}
		if err := d.Apply(in); err != nil {
			panic(err)
		}
	}
	return d
}

// answers prints every answer of v about the small federation.
func answers(v View) string {
	var b strings.Builder
	for _, u := range orderUsers {
		p, ok := v.Person(u)
		fmt.Fprintf(&b, "%s known=%v %v nin=%q s=%d f=%d b=%d c=%d same=%v groups=%v\n", u, ok, p.Affiliations, p.NINHash,
			p.StudentGroups, p.FacultyGroups, p.BasisStudentGroups, p.ContactTeacherGroups, v.SameNIN(u), v.GroupsOf(u))
		for _, g := range orderGroups {
			r, ok := v.IsMember(u, g)
			fmt.Fprintf(&b, "  %s %q %v\n", g, r, ok)
		}
		for _, o := range orderUsers {
			fmt.Fprintf(&b, "  %s teaches=%v contact=%v shared=%v\n", o, v.Teaches(u, o), v.ContactTeacherOf(u, o), v.SharedGroups(u, o))
		}
	}
	for _, g := range orderGuardians {
		for _, c := range orderUsers {
			fmt.Fprintf(&b, "%s %s %q\n", g, c, v.GuardianStatus(g, c))
		}
	}
	return b.String()
}

// probeTimes are the times worth asking about: each event's time and the second before it,
// and the ends of the day.
func probeTimes(evs []*event.Event) []time.Time {
	day := t0.Truncate(24 * time.Hour)
	ts := []time.Time{day, day.Add(24*time.Hour - time.Second)}
	for _, e := range evs {
		ts = append(ts, e.Time, e.Time.Add(-time.Second))
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return slices.Compact(ts)
}

// TestAnyOrderSameAnswers is the property the detectors' failover relies on: applying a set of
// directory events in any order, each any number of times, gives the same answers as of every
// time, and those are the oracle's (the version in force at that time).
func TestAnyOrderSameAnswers(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 1))
	for set := range 25 {
		evs := randomFacts(rng)
		ts := probeTimes(evs)
		want := make([]string, len(ts))
		for i, pt := range ts {
			want[i] = answers(oracle(evs, pt).now())
		}
		for perm := range 20 {
			order := slices.Clone(evs)
			for _, e := range evs { // some events twice
				if rng.IntN(3) == 0 {
					order = append(order, e)
				}
			}
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			d := New()
			apply(t, d, order...)
			for i, pt := range ts {
				if got := answers(d.At(pt)); got != want[i] {
					t.Fatalf("set %d, order %d %v: as of %s\ngot:\n%s\nwant:\n%s", set, perm, ids(order), pt.Format("15:04:05"), got, want[i])
				}
			}
			if got := answers(d.now()); got != want[len(ts)-1] {
				t.Fatalf("set %d, order %d: current state differs from the latest versions:\n%s\nwant:\n%s", set, perm, got, want[len(ts)-1])
			}
		}
	}
}

// TestApplyTwiceChangesNothing: every event applied a second time, in the same order, leaves
// every answer and the counts as they were.
func TestApplyTwiceChangesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 2))
	for range 25 {
		evs := randomFacts(rng)
		rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		once, twice := New(), New()
		apply(t, once, evs...)
		apply(t, twice, evs...)
		apply(t, twice, evs...)
		for _, pt := range probeTimes(evs) {
			if a, b := answers(once.At(pt)), answers(twice.At(pt)); a != b {
				t.Fatalf("as of %s, once:\n%s\ntwice:\n%s", pt, a, b)
			}
		}
		if a, b := once.Stats(), twice.Stats(); a != b {
			t.Fatalf("Stats once %+v, twice %+v", a, b)
		}
	}
}

// TestLoadEqualsLive: a rebuild from a history replay (event-time order) answers as the
// catalogue that applied the same events live, in stream order with late events and
// redeliveries.
func TestLoadEqualsLive(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 3))
	for range 25 {
		evs := randomFacts(rng)
		live := New()
		stream := append(slices.Clone(evs), evs[:len(evs)/2]...)
		rng.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
		apply(t, live, stream...)
		replay := slices.Clone(evs)
		slices.SortStableFunc(replay, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
		loaded := New()
		n, err := loaded.Load(func(apply func(*event.Event) error) (int, error) {
			for _, e := range replay {
				if err := apply(e); err != nil {
					return 0, err
				}
			}
			return len(replay), nil
		})
		if err != nil || n != len(evs) {
			t.Fatalf("Load = %d, %v", n, err)
		}
		for _, pt := range probeTimes(evs) {
			if a, b := answers(live.At(pt)), answers(loaded.At(pt)); a != b {
				t.Fatalf("as of %s, live:\n%s\nloaded:\n%s", pt, a, b)
			}
		}
		if a, b := live.Stats(), loaded.Stats(); a != b {
			t.Fatalf("Stats live %+v, loaded %+v", a, b)
		}
	}
}

// TestHorizonFolds: versions older than the horizon behind the newest event fold into the
// fact's base; answers for times within the horizon are kept, and facts that stopped changing
// longer than the horizon ago keep no versions.
func TestHorizonFolds(t *testing.T) {
	const horizon = 10 * 24 * time.Hour
	rng := rand.New(rand.NewPCG(15, 4))
	evs := randomFacts(rng)
	// Spread the day's versions over 40 days, one hour a day (day i at hour of the event).
	for _, e := range evs {
		e.Time = e.Time.Add(time.Duration(e.Time.Hour()-6) * 3 * 24 * time.Hour)
	}
	newest := slices.MaxFunc(evs, func(a, b *event.Event) int { return a.Time.Compare(b.Time) }).Time
	order := slices.Clone(evs)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	evs = append(evs, orgSnapshot()) // the org's first snapshot, applied first
	order = append([]*event.Event{orgSnapshot()}, order...)
	d := New(WithHorizon(horizon))
	apply(t, d, order...)
	floor := newest.Add(-horizon)
	for _, pt := range append(probeTimes(evs), floor) {
		if pt.Before(floor) {
			continue
		}
		if got, want := answers(d.At(pt)), answers(oracle(evs, pt).now()); got != want {
			t.Fatalf("as of %s (within the horizon):\ngot:\n%s\nwant:\n%s", pt, got, want)
		}
	}
	if d.Stats().Versioned == 0 {
		t.Fatal("no versions kept: the test's events changed nothing within the horizon")
	}
	// An event a horizon later: every other fact's versions fold away.
	apply(t, d, &event.Event{Kind: event.KindDirectory, ID: "late", Time: newest.Add(2 * horizon), Op: event.OpPerson, User: "late@r.no"})
	if st := d.Stats(); st.Versioned != 0 {
		t.Errorf("Versioned = %d a horizon after the last change, want 0", st.Versioned)
	}
	if got, want := answers(d.now()), answers(oracle(evs, newest).now()); got != want {
		t.Errorf("current state after folding:\n%s\nwant:\n%s", got, want)
	}
}

// orgSnapshot is the first event of the test federation's org, at midnight of the day of
// randomFacts: the start of the directory's coverage of it (doc.go).
func orgSnapshot() *event.Event {
	e := person("snapshot@r.no")
	e.Time, e.ID = t0.Truncate(24*time.Hour), "org-snapshot"
	return e
}

// TestHorizonAnyOrder: facts with removals, versions spread over 12 or 36 days, applied in any
// order in which no event arrives more than the horizon late, some twice, answer as of every
// time within the horizon as the oracle does: removals and facts first seen after the org's
// first snapshot included. The org's first snapshot is applied first (doc.go: the one order it
// needs).
func TestHorizonAnyOrder(t *testing.T) {
	const horizon = 10 * 24 * time.Hour
	rng := rand.New(rand.NewPCG(15, 6))
	day := t0.Truncate(24 * time.Hour)
	ran := 0
	for set := range 200 {
		evs := randomFacts(rng)
		for _, e := range evs {
			if set%2 == 0 { // the k-th half hour of the day becomes day 4k
				k := e.Time.Sub(day.Add(6*time.Hour)) / (30 * time.Minute)
				e.Time = e.Time.Add(time.Duration(k) * 4 * 24 * time.Hour)
			} else { // the h-th hour of the day becomes day 3h, the half hours kept
				e.Time = e.Time.Add(time.Duration(e.Time.Hour()-6) * 3 * 24 * time.Hour)
			}
		}
		newest := slices.MaxFunc(evs, func(a, b *event.Event) int { return a.Time.Compare(b.Time) }).Time
		all := append(slices.Clone(evs), orgSnapshot())
		floor := newest.Add(-horizon)
		var want []string
		ts := slices.DeleteFunc(append(probeTimes(all), floor), func(pt time.Time) bool { return pt.Before(floor) })
		for _, pt := range ts {
			want = append(want, answers(oracle(all, pt).now()))
		}
		for perm, tries := 0, 0; perm < 10 && tries < 200; tries++ {
			order := slices.Clone(evs)
			for _, e := range evs { // some events twice
				if rng.IntN(4) == 0 {
					order = append(order, e)
				}
			}
			if tries%2 == 0 { // any order, if no event is more than the horizon late
				rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			} else { // each event delivered late by less than the horizon
				lag := make(map[*event.Event]time.Duration)
				for _, e := range order {
					lag[e] = time.Duration(rng.Int64N(int64(horizon)))
				}
				slices.SortStableFunc(order, func(a, b *event.Event) int { return a.Time.Add(lag[a]).Compare(b.Time.Add(lag[b])) })
			}
			if lateBeyond(order, horizon) {
				continue
			}
			perm++
			ran++
			order = append([]*event.Event{orgSnapshot()}, order...)
			d := New(WithHorizon(horizon))
			apply(t, d, order...)
			for i, pt := range ts {
				if got := answers(d.At(pt)); got != want[i] {
					t.Fatalf("set %d, order %d %v: as of %s (floor %s)\ngot:\n%s\nwant:\n%s", set, perm, ids(order),
						pt.Format("01-02 15:04:05"), floor.Format("01-02 15:04"), got, want[i])
				}
			}
			if got, want := answers(d.now()), answers(oracle(all, newest).now()); got != want {
				t.Fatalf("set %d, order %d: current state:\n%s\nwant:\n%s", set, perm, got, want)
			}
		}
	}
	if ran < 1000 {
		t.Fatalf("only %d orders within the horizon's lateness: the test checks too little", ran)
	}
	t.Logf("%d orders", ran)
}

// TestNoHorizon: with no horizon the catalogue keeps only each fact's latest version by time
// (what it kept before versions): an older event arriving late does not override a newer one,
// and every time is answered with the latest version. A removal is not kept at all, as before.
func TestNoHorizon(t *testing.T) {
	d := New(WithHorizon(0))
	apply(t, d, at(guardian("g", "ola", StatusActive), "07:00"), at(guardian("g", "ola", StatusBlocked), "14:30"),
		at(guardian("g", "ola", StatusActive), "09:00"))
	if got := d.GuardianStatus("g", "ola"); got != StatusBlocked {
		t.Errorf("status %q: the late 09:00 event overrode the 14:30 one", got)
	}
	if got := d.At(day("08:00")).GuardianStatus("g", "ola"); got != StatusBlocked {
		t.Errorf("status at 08:00 %q: no horizon, yet a version before the latest answered", got)
	}
	apply(t, d, at(add("kari", math8a, "u", RoleFaculty), "07:00"), at(remove("kari", math8a), "14:30"))
	if st := d.Stats(); st.Versioned != 0 || st.Memberships != 0 {
		t.Errorf("Stats %+v with no horizon, want no versions and no membership", st)
	}
}

// TestRepeatsExactInTimeOrder: facts asserted again with the same value (re-sent snapshots,
// which keep no version) are exact when the events come in time order, and stay so when all
// of them are applied again in any order (a redelivery, a standby taking over).
func TestRepeatsExactInTimeOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 5))
	for set := range 25 {
		evs := randomFacts(rng)
		for _, e := range slices.Clone(evs) { // a snapshot repeats some facts' values later
			if rng.IntN(2) == 0 {
				r := *e
				r.Time, r.ID = e.Time.Add(time.Duration(1+rng.IntN(120))*time.Minute), e.ID+"-again"
				evs = append(evs, &r)
			}
		}
		slices.SortStableFunc(evs, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
		d := New()
		apply(t, d, evs...)
		check := func(when string) {
			for _, pt := range probeTimes(evs) {
				if got, want := answers(d.At(pt)), answers(oracle(evs, pt).now()); got != want {
					t.Fatalf("set %d, %s: as of %s\ngot:\n%s\nwant:\n%s", set, when, pt.Format("15:04:05"), got, want)
				}
			}
		}
		check("in time order")
		again := slices.Clone(evs)
		rng.Shuffle(len(again), func(i, j int) { again[i], again[j] = again[j], again[i] })
		apply(t, d, again...)
		check("applied again in any order")
	}
}
