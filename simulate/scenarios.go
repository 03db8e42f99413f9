package simulate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"breachd/event"
)

// Breach scenarios (Breach.Scenario), in the order of their first event on day 1.
const (
	ScenarioBulkExport           = "bulk_export"            // 02:30
	ScenarioCredentialStuffing   = "credential_stuffing"    // 06:40
	ScenarioPupilAsTeacher       = "pupil_as_teacher"       // 07:02
	ScenarioBlockedGuardian      = "blocked_guardian"       // 07:31
	ScenarioTeacherOutsideGroups = "teacher_outside_groups" // 08:40
)

// Breach is the ground truth of one injected breach: what a detector should find.
type Breach struct {
	Scenario string
	Org      string // the realm
	Account  string // the suspect account: the one to deactivate
	// Subjects are the people whose data the account reached, distinct, in order of first access
	// (bulk_export: every pupil of the org).
	Subjects []string
	At       time.Time // the scenario's first event (for two scenarios the directory change)
	End      time.Time // its last event
	Events   int       // how many events the scenario emits
	Group    string    // pupil_as_teacher: the group joined; teacher_outside_groups: the class's basis group
	IP       string    // credential_stuffing: the attacker's address
	Country  string    // credential_stuffing: its country
	Records  int64     // bulk_export: records exported in total
	Summary  string
}

// scripted is one pre-planned event; id, org and time are stamped when it is emitted.
type scripted struct {
	at  int64
	src source
	ev  event.Event
}

// script is the events of one scenario or edge case in time order, all in one org.
type script struct {
	org int32
	evs []scripted
}

// scriptBuilder writes one script on day 1.
type scriptBuilder struct {
	g   *Generator
	sc  script
	rng *rand.Rand
	at  int64 // Unix ms of the last event
}

func (g *Generator) newScript(o int32, rng *rand.Rand) *scriptBuilder {
	return &scriptBuilder{g: g, sc: script{org: o}, rng: rng}
}

// clock sets the time of the next event to local time of day t on day 1.
func (b *scriptBuilder) clock(t int64) *scriptBuilder { b.at = b.g.clk.at(0, t); return b }

// wait advances by lo plus up to spread.
func (b *scriptBuilder) wait(lo, spread int64) *scriptBuilder {
	b.at += lo
	if spread > 0 {
		b.at += b.rng.Int64N(spread)
	}
	return b
}

func (b *scriptBuilder) add(src source, e event.Event) {
	b.sc.evs = append(b.sc.evs, scripted{at: b.at, src: src, ev: e})
}

func (b *scriptBuilder) auth(a int32, svc service, result string, method uint8, ip, country, ua string) {
	b.add(srcIdP, event.Event{Kind: event.KindAuth, User: b.g.pop.accounts[a].id, Service: services[svc].id,
		ServiceName: services[svc].name, Result: result, Method: methodNames[method], IP: ip, Country: country, UserAgent: ua})
}

// access adds one access; group -1 means none and records 0 means one.
func (b *scriptBuilder) access(a int32, role, action string, subject int32, resource string, svc service, group int32, ip, country string, records int64) {
	e := event.Event{Kind: event.KindAccess, Actor: b.g.pop.accounts[a].id, ActorRole: role, Action: action,
		Subject: b.g.pop.accounts[subject].id, Resource: resource, Service: services[svc].id, IP: ip, Country: country, Records: records}
	if group >= 0 {
		e.Group = b.g.pop.orgs[b.sc.org].groups[group].id
	}
	b.add(services[svc].log, e)
}

// done stores the script and returns its first and last times and length.
func (b *scriptBuilder) done() (at, end time.Time, n int) {
	b.g.scripts = append(b.g.scripts, b.sc)
	evs := b.sc.evs
	return b.g.clk.time(evs[0].at), b.g.clk.time(evs[len(evs)-1].at), len(evs)
}

// ids maps account indices to ids, dropping repeats.
func (p *population) ids(accts []int32) []string {
	var out []string
	for _, a := range accts {
		if id := p.accounts[a].id; !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// shuffled returns the first n of a seeded shuffle of accts.
func shuffled(rng *rand.Rand, accts []int32, n int) []int32 {
	s := slices.Clone(accts)
	rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s[:min(n, len(s))]
}

// plan builds the scripts and ground truth of the scenarios and edge cases.
func (g *Generator) plan(rng *rand.Rand) {
	n := int32(len(g.pop.orgs))
	if g.cfg.Breaches {
		g.bulkExport(rng, 4%n)
		g.credentialStuffing(rng, 1%n)
		g.pupilAsTeacher(rng, 0)
		g.blockedGuardian(rng, 1%n)
		g.teacherOutsideGroups(rng, 2%n)
	}
	g.edgeCases(rng)
	slices.SortStableFunc(g.breaches, func(a, b Breach) int { return a.At.Compare(b.At) })
	slices.SortStableFunc(g.edges, func(a, b EdgeCase) int { return a.At.Compare(b.At) })
}

// bulkExport: at 02:30 a school office account logs in from home and exports every pupil's
// special-needs and health records.
func (g *Generator) bulkExport(rng *rand.Rand, o int32) {
	og := &g.pop.orgs[o]
	a := og.schools[0].office
	acc := &g.pop.accounts[a]
	b := g.newScript(o, rng).clock(hm(2, 30))
	b.auth(a, svcSAS, "success", mMFA, acc.homeIP, "NO", uaWindows)
	var total int64
	for i, res := range []string{"special_needs", "health"} {
		records := max(800, 4*int64(len(og.pupils))) + 12 + rng.Int64N(150)
		total += records
		b.wait(70*second+int64(i)*80*second, 20*second)
		b.access(a, "admin", "export", og.pupils[0], res, svcSAS, -1, acc.homeIP, "NO", records)
	}
	br := Breach{Scenario: ScenarioBulkExport, Org: og.realm, Account: acc.id, Subjects: g.pop.ids(og.pupils), Records: total,
		Summary: "school office account exports special-needs and health records of every pupil at night"}
	br.At, br.End, br.Events = b.done()
	g.breaches = append(g.breaches, br)
}

// credentialStuffing: from 06:40 a foreign address tries one pupil's password 32–39 times,
// gets in and goes through the pupil's work in the LMS, deleting some.
func (g *Generator) credentialStuffing(rng *rand.Rand, o int32) {
	og := &g.pop.orgs[o]
	sc := og.schools[len(og.schools)-1]
	cl := &og.classes[sc.classes[rng.IntN(len(sc.classes))]]
	p := cl.pupils[rng.IntN(len(cl.pupils))]
	att := attackers[rng.IntN(len(attackers))]
	b := g.newScript(o, rng).clock(hm(6, 40)).wait(0, 30*second)
	for range 32 + rng.IntN(8) {
		b.auth(p, svcLMS, "failure", mPassword, att.ip, att.country, uaScript)
		b.wait(2500, 3500)
	}
	b.wait(4*second, 4*second)
	b.auth(p, svcLMS, "success", mPassword, att.ip, att.country, uaScript)
	for i, res := range []string{"work", "assessment", "progress", "work", "work", "work"} {
		action := "view"
		if i >= 4 {
			action = "delete"
		}
		b.wait(20*second, 40*second)
		b.access(p, "student", action, p, res, svcLMS, cl.teaching[i%len(cl.teaching)], att.ip, att.country, 0)
	}
	br := Breach{Scenario: ScenarioCredentialStuffing, Org: og.realm, Account: g.pop.accounts[p].id,
		Subjects: g.pop.ids([]int32{p}), IP: att.ip, Country: att.country,
		Summary: "password guessing from abroad, then a successful login and the pupil's work viewed and deleted"}
	br.At, br.End, br.Events = b.done()
	g.breaches = append(g.breaches, br)
}

// pupilAsTeacher: at 07:02 the HR feed turns a pupil of the oldest class into an employee and
// adds them as faculty to a younger class's maths group; from 08:13 they read that group's
// grades and assessments.
func (g *Generator) pupilAsTeacher(rng *rand.Rand, o int32) {
	og := &g.pop.orgs[o]
	sc := og.schools[min(1, len(og.schools)-1)]
	cl := &og.classes[sc.classes[len(sc.classes)-1]]
	p := cl.pupils[rng.IntN(len(cl.pupils))]
	grp := og.classes[sc.classes[0]].teaching[1]
	acc := &g.pop.accounts[p]
	b := g.newScript(o, rng).clock(hm(7, 2))
	person := *g.pop.personEvent(p)
	person.Affiliations, person.PrimaryAffiliation = slices.Clone(affPromoted), "faculty"
	b.add(srcSAS, person)
	b.wait(400, 0)
	b.add(srcSAS, *g.pop.membershipEvent(o, grp, p, "add"))
	b.clock(hm(8, 12)).wait(0, 30*second)
	b.auth(p, svcLMS, "success", mPassword, sc.ip, "NO", uaChromebook)
	victims := shuffled(rng, og.classes[og.groups[grp].class].pupils, 14)
	b.wait(40*second, 20*second)
	for i := range len(victims) + 3 {
		res, action := "grades", "view"
		if i%2 == 1 {
			res = "assessment"
		}
		if i%5 == 4 {
			action = "update"
		}
		b.access(p, "teacher", action, victims[i%len(victims)], res, svcLMS, grp, sc.ip, "NO", 0)
		b.wait(35*second, 40*second)
	}
	br := Breach{Scenario: ScenarioPupilAsTeacher, Org: og.realm, Account: acc.id, Subjects: g.pop.ids(victims),
		Group: og.groups[grp].id, Summary: "a pupil made faculty by the HR feed reads another class's grades and assessments"}
	br.At, br.End, br.Events = b.done()
	g.breaches = append(g.breaches, br)
}

// blockedGuardian: at 07:31 a guardian–child relation is blocked (a visiting ban); from 08:20
// that guardian still reads the child's absence, contact details and messages.
func (g *Generator) blockedGuardian(rng *rand.Rand, o int32) {
	og := &g.pop.orgs[o]
	sc := og.schools[0]
	cl := &og.classes[sc.classes[1%len(sc.classes)]]
	c := cl.pupils[rng.IntN(len(cl.pupils))]
	gd := g.pop.accounts[c].kin[0]
	g.pop.accounts[gd].quiet = true // only the script speaks for this guardian
	ga := &g.pop.accounts[gd]
	b := g.newScript(o, rng).clock(hm(7, 31))
	b.add(srcSAS, event.Event{Kind: event.KindDirectory, Op: event.OpGuardianship, Guardian: ga.id,
		Child: g.pop.accounts[c].id, Status: "blocked"})
	b.clock(hm(8, 20)).wait(0, 60*second)
	b.auth(gd, svcSAS, "success", mIDPorten, ga.homeIP, "NO", ga.homeUA)
	for _, res := range []string{"absence", "contact", "absence"} {
		b.wait(25*second, 30*second)
		b.access(gd, "guardian", "view", c, res, svcSAS, -1, ga.homeIP, "NO", 0)
	}
	b.wait(30*second, 30*second)
	b.auth(gd, svcMsg, "success", mSSO, ga.homeIP, "NO", ga.homeUA)
	for range 2 {
		b.wait(15*second, 30*second)
		b.access(gd, "guardian", "view", c, "messages", svcMsg, -1, ga.homeIP, "NO", 0)
	}
	br := Breach{Scenario: ScenarioBlockedGuardian, Org: og.realm, Account: ga.id, Subjects: g.pop.ids([]int32{c}),
		Summary: "a guardian whose relation to the child was blocked keeps reading the child's data"}
	br.At, br.End, br.Events = b.done()
	g.breaches = append(g.breaches, br)
}

// teacherOutsideGroups: from 08:40 the contact teacher of a school's first class reads
// assessments, grades and special-needs notes of nine pupils of a class (another grade) in
// which they are in no group, without going through a group.
func (g *Generator) teacherOutsideGroups(rng *rand.Rand, o int32) {
	og := &g.pop.orgs[o]
	sc := og.schools[0]
	t := og.classes[sc.classes[0]].contact
	// Another grade of the same school always qualifies: grade teams do not overlap and the
	// teacher is no specialist (Validate guarantees a second class).
	target := int32(-1)
	for _, ci := range sc.classes {
		if !g.pop.inClass(t, ci) {
			target = ci
			break
		}
	}
	tc := &og.classes[target]
	acc := &g.pop.accounts[t]
	b := g.newScript(o, rng).clock(hm(8, 40)).wait(0, 30*second)
	b.auth(t, svcSAS, "success", mMFA, sc.ip, "NO", uaWindows)
	victims := shuffled(rng, tc.pupils, 9)
	resources := []string{"assessment", "grades", "special_needs"}
	for i := range len(victims) + 2 {
		b.wait(45*second, 35*second)
		b.access(t, "teacher", "view", victims[i%len(victims)], resources[i%len(resources)], svcSAS, -1, sc.ip, "NO", 0)
	}
	br := Breach{Scenario: ScenarioTeacherOutsideGroups, Org: og.realm, Account: acc.id, Subjects: g.pop.ids(victims),
		Group: og.groups[tc.basis].id, Summary: "a teacher reads sensitive data of pupils of a class they do not teach"}
	br.At, br.End, br.Events = b.done()
	g.breaches = append(g.breaches, br)
}

// inClass reports whether teacher t is faculty in any group of class ci of the teacher's org.
func (p *population) inClass(t, ci int32) bool {
	og := &p.orgs[p.accounts[t].org]
	for _, gi := range p.accounts[t].groups {
		if og.groups[gi].class == ci {
			return true
		}
	}
	return false
}

// String is the breach in one line: scenario, organisation, account and start.
func (b Breach) String() string {
	return fmt.Sprintf("breach %-22s %s %s at %s", b.Scenario, b.Org, b.Account, b.At.Format(time.RFC3339))
}
