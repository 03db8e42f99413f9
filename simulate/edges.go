package simulate

import (
	"math/rand/v2"
	"slices"
	"time"
)

// Edge cases (EdgeCase.Case): legitimate activity on day 1 that resembles a breach. They are
// always present, with or without Config.Breaches.
const (
	EdgeTwoMunicipalities = "two_municipalities" // directory snapshot (needs Orgs >= 2)
	EdgeSubstituteTeacher = "substitute_teacher" // 07:45 added, 09:07 accesses, 15:30 removed
	EdgePasswordTypo      = "password_typo"      // 08:05
	EdgePrincipalOverview = "principal_overview" // 10:00
	EdgeDaytimeExport     = "daytime_export"     // 11:05
)

// EdgeCase is the ground truth of one scripted piece of legitimate activity that a detector
// must not raise an alert for.
type EdgeCase struct {
	Case    string
	Org     string
	Account string
	// Accounts are other accounts involved: for two_municipalities, the same person's account
	// in the second org (same NIN hash).
	Accounts []string
	Subjects []string // whose data the account reached, distinct, in order of first access
	Group    string   // substitute_teacher: the group joined for the day
	At       time.Time
	End      time.Time
	Events   int // events the case emits itself (0 when it lives in the snapshot)
	Summary  string
}

// edgeCases plans the edge cases, avoiding the accounts the breach scenarios use.
func (g *Generator) edgeCases(rng *rand.Rand) {
	og := &g.pop.orgs[0]
	first, last := &og.schools[0], &og.schools[len(og.schools)-1]
	if len(g.pop.orgs) >= 2 {
		a := og.groups[og.classes[0].teaching[subjectKro]].faculty[0]
		o1 := &g.pop.orgs[1]
		b := o1.groups[o1.classes[0].teaching[subjectKro]].faculty[0]
		at := g.clk.time(g.clk.at(0, -2*hour))
		g.edges = append(g.edges, EdgeCase{Case: EdgeTwoMunicipalities, Org: og.realm, Account: g.pop.accounts[a].id,
			Accounts: []string{g.pop.accounts[b].id}, At: at, End: at,
			Summary: "one teacher employed in two municipalities: two accounts with the same NIN hash"})
	}
	g.substitute(rng, last)
	g.passwordTypo(rng, first)
	g.principalOverview(rng, first)
	g.daytimeExport(rng, last)
}

// suspect reports whether a is the account of a breach scenario.
func (g *Generator) suspect(a int32) bool {
	return slices.ContainsFunc(g.breaches, func(b Breach) bool { return b.Account == g.pop.accounts[a].id })
}

// substitute: a teacher who has no group in a class is added to its English group at 07:45,
// teaches it from 09:07 and is removed again at 15:30.
func (g *Generator) substitute(rng *rand.Rand, sc *school) {
	og := &g.pop.orgs[0]
	grp := og.classes[sc.classes[0]].teaching[2]
	gr := &og.groups[grp]
	// Prefer a teacher with no group in the class at all; a one-class school has none.
	t := int32(-1)
	for pass := 0; pass < 2 && t < 0; pass++ {
		for _, c := range slices.Backward(sc.teachers) {
			if !g.suspect(c) && !slices.Contains(gr.faculty, c) && (pass == 1 || !g.pop.inClass(c, gr.class)) {
				t = c
				break
			}
		}
	}
	b := g.newScript(0, rng).clock(hm(7, 45))
	b.add(srcSAS, *g.pop.membershipEvent(0, grp, t, "add"))
	b.clock(hm(9, 7)).wait(0, 3*minute)
	b.auth(t, svcLMS, "success", mSSO, sc.ip, "NO", uaWindows)
	pupils := og.classes[gr.class].pupils
	var seen []int32
	for i := range 8 {
		b.wait(minute, 3*minute)
		p := pupils[rng.IntN(len(pupils))]
		seen = append(seen, p)
		res, action := lessonResources[rng.IntN(len(lessonResources))], "view"
		if i%3 == 2 {
			action = "update"
		}
		b.access(t, "teacher", action, p, res, svcLMS, grp, sc.ip, "NO", 0)
	}
	b.clock(hm(15, 30))
	b.add(srcSAS, *g.pop.membershipEvent(0, grp, t, "remove"))
	g.addEdge(b, EdgeCase{Case: EdgeSubstituteTeacher, Org: og.realm, Account: g.pop.accounts[t].id, Subjects: g.pop.ids(seen),
		Group: gr.id, Summary: "a substitute teacher is added to a group before working in it, and removed after"})
}

// passwordTypo: at 08:05 a contact teacher mistypes the password twice, then registers absence.
func (g *Generator) passwordTypo(rng *rand.Rand, sc *school) {
	og := &g.pop.orgs[0]
	t := og.classes[sc.classes[len(sc.classes)-1]].contact
	acc := &g.pop.accounts[t]
	grp := acc.teaches[0]
	b := g.newScript(0, rng).clock(hm(8, 5)).wait(0, 30*second)
	for range 2 {
		b.auth(t, svcSAS, "failure", mMFA, sc.ip, "NO", uaWindows)
		b.wait(6*second, 10*second)
	}
	b.auth(t, svcSAS, "success", mMFA, sc.ip, "NO", uaWindows)
	victims := shuffled(rng, og.classes[og.groups[grp].class].pupils, 2)
	for _, p := range victims {
		b.wait(20*second, 20*second)
		b.access(t, "teacher", "update", p, "absence", svcSAS, grp, sc.ip, "NO", 0)
	}
	g.addEdge(b, EdgeCase{Case: EdgePasswordTypo, Org: og.realm, Account: acc.id, Subjects: g.pop.ids(victims),
		Summary: "two mistyped passwords from the school network, then a normal login"})
}

// principalOverview: at 10:00 the principal goes through absence and progress of 45 pupils
// of the school (fewer if the school is smaller), acting as admin.
func (g *Generator) principalOverview(rng *rand.Rand, sc *school) {
	og := &g.pop.orgs[0]
	a := sc.principal
	b := g.newScript(0, rng).clock(hm(10, 0))
	b.auth(a, svcSAS, "success", mMFA, sc.ip, "NO", uaWindows)
	pupils := og.pupils[sc.pupils0 : sc.pupils0+int32(len(sc.classes)*g.cfg.PupilsPerClass)]
	victims := shuffled(rng, pupils, 45)
	for i, p := range victims {
		b.wait(8*second, 12*second)
		b.access(a, "admin", "view", p, principalResources[i%2], svcSAS, -1, sc.ip, "NO", 0)
	}
	g.addEdge(b, EdgeCase{Case: EdgePrincipalOverview, Org: og.realm, Account: g.pop.accounts[a].id, Subjects: g.pop.ids(victims),
		Summary: "the principal reviews absence and progress across the school"})
}

// daytimeExport: at 11:05 the school office exports one class's contact list.
func (g *Generator) daytimeExport(rng *rand.Rand, sc *school) {
	og := &g.pop.orgs[0]
	a := sc.office
	if g.suspect(a) { // a one-school org: the office account is the night exporter
		a = sc.principal
	}
	pupils := og.classes[sc.classes[0]].pupils
	b := g.newScript(0, rng).clock(hm(11, 5)).wait(0, 30*second)
	b.auth(a, svcSAS, "success", mMFA, sc.ip, "NO", uaWindows)
	b.wait(40*second, 30*second)
	b.access(a, "staff", "export", pupils[0], "contact", svcSAS, -1, sc.ip, "NO", int64(len(pupils)))
	g.addEdge(b, EdgeCase{Case: EdgeDaytimeExport, Org: og.realm, Account: g.pop.accounts[a].id, Subjects: g.pop.ids(pupils),
		Summary: "the school office exports a class's contact list in office hours"})
}

// addEdge records ec, with the time span and event count of the script b that played it.
func (g *Generator) addEdge(b *scriptBuilder, ec EdgeCase) {
	ec.At, ec.End, ec.Events = b.done()
	g.edges = append(g.edges, ec)
}
