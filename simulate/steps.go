package simulate

import (
	"math/rand/v2"
	"slices"

	"breachd/event"
)

// What each kind of session looks at, weighted by repetition.
var (
	pupilResources     = []string{"work", "work", "work", "progress", "assessment", "grades"}
	lessonResources    = []string{"work", "work", "work", "work", "assessment", "assessment", "assessment", "progress", "progress", "absence"}
	gradingResources   = []string{"assessment", "assessment", "grades", "work"}
	contactResources   = []string{"wellbeing", "wellbeing", "wellbeing", "wellbeing", "wellbeing", "wellbeing", "family", "family", "family", "contact"}
	guardianResources  = []string{"absence", "absence", "absence", "absence", "grades", "grades", "progress", "progress", "contact", "contact"}
	principalResources = []string{"absence", "progress", "grades"}
	officeResources    = []string{"contact", "absence"}
)

// day plans the sessions of day (and, on day 0, the scenario scripts) and emits their events
// in time order.
func (r *runner) day(day int) error {
	r.q.s = r.q.s[:0]
	r.rng = rand.New(rand.NewPCG(uint64(r.g.cfg.Seed), streamActivity+uint64(day)))
	pl := &planner{r: r, rng: r.rng, day: day, first: -1}
	pl.plan()
	if day == 0 {
		for i, sc := range r.g.scripts {
			r.q.s = append(r.q.s, session{at: sc.evs[0].at, acct: -1, group: -1, script: int32(i), kind: kScript})
		}
	}
	r.q.init()
	for len(r.q.idx) > 0 {
		s := &r.q.s[r.q.idx[0]]
		at := s.at
		o, src, e := r.next(s)
		if r.advance(s) {
			r.q.pop()
		} else {
			r.q.down(0)
		}
		if err := r.send(o, src, at, e); err != nil {
			return err
		}
	}
	return nil
}

// next builds the event s is due to emit, without changing s.
func (r *runner) next(s *session) (int32, source, *event.Event) {
	if s.kind == kScript {
		sc := &r.g.scripts[s.script]
		st := &sc.evs[s.step]
		e := st.ev // a copy; its slices and pointer are copied below
		e.Affiliations, e.Schools = slices.Clone(e.Affiliations), slices.Clone(e.Schools)
		if e.Active != nil {
			v := *e.Active
			e.Active = &v
		}
		return sc.org, st.src, &e
	}
	o := r.g.pop.accounts[s.acct].org
	if s.step == 0 {
		return o, srcIdP, r.login(s)
	}
	return o, services[s.svc].log, r.access(s)
}

// advance moves s to its next event and reports whether s is finished.
func (r *runner) advance(s *session) bool {
	switch {
	case s.kind == kScript:
		s.step++
		evs := r.g.scripts[s.script].evs
		if int(s.step) >= len(evs) {
			return true
		}
		s.at = evs[s.step].at
		return false
	case s.step == 0 && s.typos > 0:
		s.typos--
		s.at += 4*second + r.rng.Int64N(20*second)
		return false
	case s.step == 0:
		if s.steps == 0 {
			return true
		}
		s.step = 1
		s.at += 3*second + r.rng.Int64N(17*second)
		return false
	}
	s.step++
	if s.step > s.steps {
		return true
	}
	gap := gaps[s.kind]
	s.at += gap[0] + r.rng.Int64N(gap[1]-gap[0])
	return false
}

// login is the IdP's record of s's login attempt: a failure while typos remain.
func (r *runner) login(s *session) *event.Event {
	svc := &services[s.svc]
	e := &event.Event{Kind: event.KindAuth, User: r.g.pop.accounts[s.acct].id, Service: svc.id, ServiceName: svc.name,
		Result: "success", Method: methodNames[s.method], IP: s.ip, Country: "NO", UserAgent: s.ua}
	if s.typos > 0 {
		e.Result = "failure"
	}
	return e
}

// access is the service's audit record of s's next access to personal data.
func (r *runner) access(s *session) *event.Event {
	pop := r.g.pop
	acc := &pop.accounts[s.acct]
	og := &pop.orgs[acc.org]
	e := &event.Event{Kind: event.KindAccess, Actor: acc.id, Action: "view", Service: services[s.svc].id, IP: s.ip, Country: "NO"}
	if s.group >= 0 {
		e.Group = og.groups[s.group].id
	}
	subject := s.acct
	inGroup := func() int32 {
		p := og.classes[og.groups[s.group].class].pupils
		return p[r.rng.IntN(len(p))]
	}
	inSchool := func() int32 {
		cl := og.schools[acc.school].classes
		p := og.classes[cl[r.rng.IntN(len(cl))]].pupils
		return p[r.rng.IntN(len(p))]
	}
	switch s.kind {
	case kPupilLMS:
		e.ActorRole, e.Resource = "student", pick(r.rng, pupilResources)
		if e.Resource == "work" && r.rng.IntN(5) == 0 {
			e.Action = "update" // hands in work
		}
	case kPupilMsg:
		e.ActorRole, e.Resource = "student", "messages"
	case kTeacherAbsence:
		e.ActorRole, e.Resource, subject = "teacher", "absence", inGroup()
		e.Action = r.action(30)
	case kLesson:
		e.ActorRole, e.Resource, subject = "teacher", pick(r.rng, lessonResources), inGroup()
		e.Action = r.action(40)
	case kGrading:
		e.ActorRole, e.Resource, subject = "teacher", pick(r.rng, gradingResources), inGroup()
		e.Action = r.action(55)
	case kContact:
		e.ActorRole, e.Resource, subject = "contact_teacher", pick(r.rng, contactResources), inGroup()
		e.Action = r.action(15)
	case kGuardianSAS:
		e.ActorRole, e.Resource, subject = "guardian", pick(r.rng, guardianResources), acc.kin[r.rng.IntN(len(acc.kin))]
		if e.Resource == "absence" {
			e.Action = r.action(10) // reports an absence
		}
	case kGuardianMsg:
		e.ActorRole, e.Resource, subject = "guardian", "messages", acc.kin[r.rng.IntN(len(acc.kin))]
	case kPrincipal:
		e.ActorRole, e.Resource, subject = "admin", pick(r.rng, principalResources), inSchool()
	case kOffice:
		e.ActorRole, e.Resource, subject = "staff", pick(r.rng, officeResources), inSchool()
		e.Action = r.action(40)
	case kSupport:
		e.ActorRole, e.Resource, subject = "support", "contact", og.pupils[r.rng.IntN(len(og.pupils))]
	}
	e.Subject = pop.accounts[subject].id
	return e
}

// action is update with the given chance in percent, else view.
func (r *runner) action(updatePct int) string {
	if r.rng.IntN(100) < updatePct {
		return "update"
	}
	return "view"
}

func pick(rng *rand.Rand, from []string) string { return from[rng.IntN(len(from))] }
