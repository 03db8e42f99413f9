package rules

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"breachd/directory"
	"breachd/event"
)

// benchSchool builds a directory of three schools — 2,250 pupils in 90 classes, 180 teachers,
// 4,500 guardianships — and a mix of events like a school day's: 40% logins (5% failing),
// 55% accesses (teachers on their pupils, guardians, pupils on themselves, a few exports),
// 5% directory person upserts (equal to the snapshot, so the benchmark need not apply them).
func benchSchool(tb testing.TB) (*directory.Directory, []event.Event) {
	tb.Helper()
	dir := directory.New()
	rng := rand.New(rand.NewPCG(1, 2))
	apply := func(e event.Event) {
		e.Kind, e.Time, e.Org = event.KindDirectory, t0, "ex.no"
		if err := dir.Apply(&e); err != nil {
			tb.Fatal(err)
		}
	}
	var pupils, teachers []string
	teachersOf := map[string][]string{}
	for s := range 3 {
		for c := range 30 {
			class := fmt.Sprintf("fc:gogroup:ex.no:b:NO%d:%d:2026-08-15:2027-06-20", s, c)
			subjects := make([]string, 5)
			for j := range subjects {
				subjects[j] = fmt.Sprintf("fc:gogroup:ex.no:u:NO%d:%d-%d:2026-08-15:2027-06-20", s, c, j)
			}
			ct := fmt.Sprintf("t%d-%d@ex.no", s, c)
			st := fmt.Sprintf("t%d-%d@ex.no", s, (c+1)%30+30)
			for _, t := range []string{ct, st} {
				apply(event.Event{Op: event.OpPerson, User: t, Affiliations: []string{"faculty", "employee", "member"}, Schools: []string{fmt.Sprint("NO", s)}})
				teachers = append(teachers, t)
			}
			apply(event.Event{Op: event.OpMembership, User: ct, Group: class, GoType: "b", Role: "faculty", ContactTeacher: true, Change: "add"})
			for _, g := range subjects {
				apply(event.Event{Op: event.OpMembership, User: st, Group: g, GoType: "u", Role: "faculty", Change: "add"})
			}
			for p := range 25 {
				pupil := fmt.Sprintf("p%d-%d-%d@ex.no", s, c, p)
				pupils = append(pupils, pupil)
				teachersOf[pupil] = []string{ct, st}
				apply(event.Event{Op: event.OpPerson, User: pupil, Affiliations: []string{"student", "member"}, NINHash: "h" + pupil})
				apply(event.Event{Op: event.OpMembership, User: pupil, Group: class, GoType: "b", Role: "student", Change: "add"})
				for _, g := range subjects {
					apply(event.Event{Op: event.OpMembership, User: pupil, Group: g, GoType: "u", Role: "student", Change: "add"})
				}
				for k := range 2 {
					apply(event.Event{Op: event.OpGuardianship, Guardian: fmt.Sprintf("g%d:%s", k, pupil), Child: pupil, Status: "active"})
				}
			}
		}
	}
	resources := []string{"grades", "assessment", "absence", "wellbeing", "messages", "special_needs"}
	events := make([]event.Event, 4096)
	for i := range events {
		e := event.Event{ID: fmt.Sprint("ev-", i), Time: t0.Add(time.Duration(i) * 50 * time.Millisecond), Org: "ex.no", Service: "https://lms.example.no"}
		pupil := pupils[rng.IntN(len(pupils))]
		switch r := rng.IntN(100); {
		case r < 40:
			e.Kind, e.User, e.Result, e.IP = event.KindAuth, pupil, "success", "193.157.1.20"
			if rng.IntN(20) == 0 {
				e.Result = "failure"
			}
		case r < 95:
			e.Kind, e.Action, e.Subject, e.Resource, e.Records = event.KindAccess, "view", pupil, resources[rng.IntN(len(resources))], 1
			switch k := rng.IntN(10); {
			case k < 6:
				e.Actor, e.ActorRole = teachersOf[pupil][rng.IntN(2)], "teacher"
			case k < 8:
				e.Actor, e.ActorRole = "g0:"+pupil, "guardian"
			case k < 9:
				e.Actor, e.ActorRole = pupil, "student"
			default:
				e.Actor, e.ActorRole, e.Action, e.Records = teachers[rng.IntN(len(teachers))], "teacher", "export", int64(rng.IntN(800))
			}
		default:
			e.Kind, e.Op, e.User, e.Affiliations, e.NINHash = event.KindDirectory, event.OpPerson, pupil, []string{"student", "member"}, "h"+pupil
		}
		events[i] = e
	}
	return dir, events
}

// BenchmarkEvaluateDefaultPack measures one event through the default pack; ns/op is per event.
// cpu-ns/event is the process's CPU time per event (GC included), steadier than ns/op on a
// shared machine.
func BenchmarkEvaluateDefaultPack(b *testing.B) {
	set, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	dir, events := benchSchool(b)
	g := mustEngine(b, set, dir, nil)
	alerts := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		e := &events[i%len(events)]
		e.Time = t0.Add(time.Duration(i) * 50 * time.Millisecond)
		alerts += len(g.Evaluate(context.Background(), e)) // directory events repeat the snapshot: applying them is a no-op
		i++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(i), "cpu-ns/event")
	b.ReportMetric(float64(alerts)/float64(i), "alerts/event")
}
