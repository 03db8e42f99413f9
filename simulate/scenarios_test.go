package simulate

import (
	"slices"
	"testing"
	"time"

	"breachd/event"
)

// The oracle, replaying the stream with its own directory state, flags exactly the breach
// accounts (with exactly their subjects), and nothing at all without breaches.
func TestOracleFindsExactlyTheBreaches(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"defaults", Defaults()},
		{"seed 2, three days", Config{Seed: 2, Days: 3, Breaches: true}},
		{"one org", Config{Seed: 3, Orgs: 1, SchoolsPerOrg: 1, ClassesPerSchool: 2, PupilsPerClass: 12, Breaches: true}},
		{"wide", Config{Seed: 5, Orgs: 3, SchoolsPerOrg: 3, ClassesPerSchool: 7, PupilsPerClass: 26, Breaches: true}},
		{"no breaches", Config{Seed: 1, Days: 2}},
		{"no breaches, tiny", Config{Seed: 9, Orgs: 1, SchoolsPerOrg: 1, ClassesPerSchool: 1, PupilsPerClass: 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			skipLargeInShort(t, c.cfg)
			w := generate(t, c.cfg)
			o := runOracle(w.evs)
			want := map[string]Breach{}
			for _, b := range w.g.Breaches() {
				want[b.Account] = b
			}
			if c.cfg.Breaches != (len(want) == 5) {
				t.Fatalf("%d breaches for Breaches=%v", len(want), c.cfg.Breaches)
			}
			for acct, reasons := range o.flags {
				if _, ok := want[acct]; !ok {
					t.Errorf("oracle flags %s, no breach: %v", acct, reasons)
				}
			}
			for acct, b := range want {
				if len(o.flags[acct]) == 0 {
					t.Errorf("%s: oracle does not flag %s", b.Scenario, acct)
					continue
				}
				if got := o.subjects[acct]; b.Scenario != ScenarioBulkExport && !sameSet(got, b.Subjects) {
					t.Errorf("%s: flagged subjects %v, ground truth %v", b.Scenario, got, b.Subjects)
				}
			}
			for _, ec := range w.g.EdgeCases() {
				if _, ok := want[ec.Account]; ok {
					t.Errorf("edge case %s uses breach account %s", ec.Case, ec.Account)
				}
			}
		})
	}
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// by returns the activity events whose account is acct, in order.
func (w *world) by(acct string) []event.Event {
	var out []event.Event
	for _, e := range w.activity() {
		if e.Account() == acct {
			out = append(out, e)
		}
	}
	return out
}

// distinctSubjects returns the distinct subjects of the access events of evs matching keep.
func distinctSubjects(evs []event.Event, keep func(e event.Event) bool) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == event.KindAccess && keep(e) && !slices.Contains(out, e.Subject) {
			out = append(out, e.Subject)
		}
	}
	return out
}

func TestBreachScenarios(t *testing.T) {
	w := generate(t, Defaults())
	cases := []struct {
		scenario, at string
		check        func(t *testing.T, b Breach, evs []event.Event)
	}{
		{ScenarioBulkExport, "02:30", func(t *testing.T, b Breach, evs []event.Event) {
			var total int64
			for _, e := range evs {
				if e.Action == "export" && (e.Resource == "special_needs" || e.Resource == "health") && e.Records >= 800 && e.Time.In(oslo()).Hour() == 2 {
					total += e.Records
				}
			}
			pupils := w.g.Config().SchoolsPerOrg * w.g.Config().ClassesPerSchool * w.g.Config().PupilsPerClass
			if total != b.Records || total < 1600 || w.persons[b.Account].PrimaryAffiliation != "staff" || len(b.Subjects) != pupils {
				t.Errorf("night exports of %d records by %s (%s), ground truth %d records, %d subjects",
					total, b.Account, w.persons[b.Account].PrimaryAffiliation, b.Records, len(b.Subjects))
			}
		}},
		{ScenarioCredentialStuffing, "06:40", func(t *testing.T, b Breach, evs []event.Event) {
			var fails []time.Time
			var success time.Time
			for _, e := range evs {
				switch {
				case e.Kind == event.KindAuth && e.IP == b.IP && e.Result == "failure" && success.IsZero():
					fails = append(fails, e.Time)
				case e.Kind == event.KindAuth && e.IP == b.IP && e.Result == "success":
					success = e.Time
				}
			}
			accesses := distinctSubjects(evs, func(e event.Event) bool { return e.IP == b.IP && e.Time.After(success) })
			if len(fails) < 30 || fails[len(fails)-1].Sub(fails[0]) > 5*time.Minute || success.IsZero() ||
				len(accesses) == 0 || b.Country == "NO" || w.persons[b.Account].PrimaryAffiliation != "student" {
				t.Errorf("%d failures over %v, success at %v, %d accessed, from %s %s",
					len(fails), fails[len(fails)-1].Sub(fails[0]), success, len(accesses), b.IP, b.Country)
			}
		}},
		{ScenarioPupilAsTeacher, "07:02", func(t *testing.T, b Breach, evs []event.Event) {
			if evs[0].Op != event.OpPerson || !slices.Contains(evs[0].Affiliations, "faculty") || !slices.Contains(evs[0].Affiliations, "employee") ||
				w.persons[b.Account].PrimaryAffiliation != "student" {
				t.Errorf("first event %+v is not the HR-feed upsert of a pupil", evs[0])
			}
			if m := evs[1]; m.Op != event.OpMembership || m.Group != b.Group || m.Role != "faculty" || m.GoType != "u" || m.Change != "add" {
				t.Errorf("second event %+v is not the faculty membership", m)
			}
			subjects := distinctSubjects(evs, func(e event.Event) bool {
				return e.ActorRole == "teacher" && (e.Resource == "grades" || e.Resource == "assessment") && w.members[b.Group][e.Subject] == "student"
			})
			if len(subjects) < 10 || !sameSet(subjects, b.Subjects) {
				t.Errorf("teacher-role reads of %d pupils of the group, ground truth %d", len(subjects), len(b.Subjects))
			}
		}},
		{ScenarioBlockedGuardian, "07:31", func(t *testing.T, b Breach, evs []event.Event) {
			child := b.Subjects[0]
			if e := evs[0]; e.Op != event.OpGuardianship || e.Child != child || e.Status != "blocked" || !slices.Contains(w.kin[child], b.Account) {
				t.Errorf("first event %+v does not block a snapshot relation", e)
			}
			var resources []string
			for _, e := range evs[1:] {
				if e.Kind == event.KindAccess && e.ActorRole == "guardian" && e.Subject == child {
					resources = append(resources, e.Resource)
				}
			}
			for _, r := range []string{"absence", "messages", "contact"} {
				if !slices.Contains(resources, r) {
					t.Errorf("blocked guardian never reads %s (reads %v)", r, resources)
				}
			}
		}},
		{ScenarioTeacherOutsideGroups, "08:40", func(t *testing.T, b Breach, evs []event.Event) {
			subjects := distinctSubjects(evs, func(e event.Event) bool {
				return e.ActorRole == "teacher" && slices.Contains([]string{"assessment", "grades", "special_needs"}, e.Resource)
			})
			for _, s := range subjects {
				if w.members[b.Group][s] != "student" {
					t.Errorf("%s is not in class %s", s, b.Group)
				}
				for g, m := range w.members {
					if m[s] == "student" && m[b.Account] != "" {
						t.Errorf("teacher shares group %s with %s", g, s)
					}
				}
			}
			if len(subjects) < 8 || w.persons[b.Account].PrimaryAffiliation != "faculty" {
				t.Errorf("%d pupils read by %s", len(subjects), w.persons[b.Account].PrimaryAffiliation)
			}
		}},
	}
	got := w.g.Breaches()
	if len(got) != len(cases) {
		t.Fatalf("%d breaches, want %d", len(got), len(cases))
	}
	for i, c := range cases {
		t.Run(c.scenario, func(t *testing.T) {
			b := got[i]
			if b.Scenario != c.scenario || localClock(b.At) != c.at || !b.End.After(b.At) || localClock(b.End) >= "09:00" {
				t.Fatalf("breach %d = %s %s..%s, want %s at %s, over before 09:00", i, b.Scenario, b.At, b.End, c.scenario, c.at)
			}
			var evs []event.Event
			for _, e := range w.by(b.Account) {
				if !e.Time.Before(b.At) && !e.Time.After(b.End) {
					evs = append(evs, e)
				}
			}
			if len(evs) < b.Events {
				t.Fatalf("%d events of %s in [At, End], ground truth says %d", len(evs), b.Account, b.Events)
			}
			c.check(t, b, evs)
		})
	}
}

func TestEdgeCases(t *testing.T) {
	w := generate(t, Defaults())
	cases := []struct {
		name, at string
		check    func(t *testing.T, ec EdgeCase, evs []event.Event)
	}{
		{EdgeTwoMunicipalities, "22:00", func(t *testing.T, ec EdgeCase, _ []event.Event) {
			a, b := w.persons[ec.Account], w.persons[ec.Accounts[0]]
			if a.Org == b.Org || a.NINHash != b.NINHash || a.PrimaryAffiliation != "faculty" || b.PrimaryAffiliation != "faculty" {
				t.Errorf("accounts %+v and %+v are not one teacher in two orgs", a, b)
			}
			for _, acct := range []string{ec.Account, ec.Accounts[0]} {
				if len(distinctSubjects(w.by(acct), func(e event.Event) bool { return e.ActorRole == "teacher" })) == 0 {
					t.Errorf("%s does not teach on day 1", acct)
				}
			}
		}},
		{EdgeSubstituteTeacher, "07:45", func(t *testing.T, ec EdgeCase, evs []event.Event) {
			first, last := evs[0], evs[len(evs)-1]
			if first.Op != event.OpMembership || first.Change != "add" || first.Group != ec.Group || first.Role != "faculty" ||
				last.Op != event.OpMembership || last.Change != "remove" || w.members[ec.Group][ec.Account] != "" {
				t.Errorf("not added to %s before and removed after: %+v .. %+v", ec.Group, first, last)
			}
			subjects := distinctSubjects(evs, func(e event.Event) bool { return e.Group == ec.Group && e.ActorRole == "teacher" })
			if len(subjects) < 4 || !sameSet(subjects, ec.Subjects) {
				t.Errorf("works with %v in the group, ground truth %v", subjects, ec.Subjects)
			}
		}},
		{EdgePasswordTypo, "08:05", func(t *testing.T, ec EdgeCase, evs []event.Event) {
			logins := slices.DeleteFunc(slices.Clone(evs), func(e event.Event) bool { return e.Kind != event.KindAuth })
			var results []string
			for _, e := range logins[:3] {
				results = append(results, e.Result)
				if e.IP != logins[0].IP || e.Country != "NO" {
					t.Errorf("attempt from %s %s", e.IP, e.Country)
				}
			}
			if !slices.Equal(results, []string{"failure", "failure", "success"}) || logins[2].Time.Sub(logins[0].Time) > time.Minute {
				t.Errorf("logins %v over %v", results, logins[2].Time.Sub(logins[0].Time))
			}
		}},
		{EdgePrincipalOverview, "10:00", func(t *testing.T, ec EdgeCase, evs []event.Event) {
			subjects := distinctSubjects(evs, func(e event.Event) bool { return e.ActorRole == "admin" })
			for g, m := range w.members {
				if m[ec.Account] != "" {
					t.Errorf("principal is in group %s", g)
				}
			}
			if len(subjects) < 40 || w.persons[ec.Account].PrimaryAffiliation != "staff" {
				t.Errorf("principal views %d pupils", len(subjects))
			}
		}},
		{EdgeDaytimeExport, "11:05", func(t *testing.T, ec EdgeCase, evs []event.Event) {
			e := evs[len(evs)-1]
			if e.Action != "export" || e.Records != int64(len(ec.Subjects)) || e.Records >= 100 {
				t.Errorf("export %+v of %d subjects", e, len(ec.Subjects))
			}
		}},
	}
	got := w.g.EdgeCases()
	if len(got) != len(cases) {
		t.Fatalf("%d edge cases, want %d", len(got), len(cases))
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ec := got[i]
			if ec.Case != c.name || localClock(ec.At) != c.at {
				t.Fatalf("edge case %d = %s at %s, want %s at %s", i, ec.Case, localClock(ec.At), c.name, c.at)
			}
			var evs []event.Event
			for _, e := range w.by(ec.Account) {
				if !e.Time.Before(ec.At) && !e.Time.After(ec.End) {
					evs = append(evs, e)
				}
			}
			if len(evs) < ec.Events {
				t.Fatalf("%d events of %s in [At, End], ground truth says %d", len(evs), ec.Account, ec.Events)
			}
			c.check(t, ec, evs)
		})
	}
}
