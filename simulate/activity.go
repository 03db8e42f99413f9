package simulate

import (
	"math/rand/v2"
)

// kind is what a session does after its login.
type kind uint8

const (
	kPupilLMS kind = iota
	kPupilMsg
	kApp // login only: services without an access log
	kTeacherAbsence
	kLesson
	kGrading
	kContact
	kGuardianSAS
	kGuardianMsg
	kPrincipal
	kOffice
	kSupport
	kScript // a scenario's pre-planned events
	numKinds
)

// gaps are the bounds (ms) of the pause between two accesses of a session, by kind.
var gaps = [numKinds][2]int64{
	kPupilLMS: {20 * second, 3 * minute}, kPupilMsg: {10 * second, minute}, kApp: {second, 2 * second},
	kTeacherAbsence: {5 * second, 30 * second}, kLesson: {minute, 5 * minute}, kGrading: {20 * second, 2 * minute},
	kContact: {30 * second, 3 * minute}, kGuardianSAS: {10 * second, 90 * second}, kGuardianMsg: {10 * second, minute},
	kPrincipal: {20 * second, 200 * second}, kOffice: {30 * second, 5 * minute}, kSupport: {30 * second, 4 * minute},
}

// Login methods.
const (
	mSSO uint8 = iota
	mPassword
	mMFA
	mIDPorten
)

var methodNames = [...]string{mSSO: "sso", mPassword: "password", mMFA: "mfa", mIDPorten: "idporten"}

// session is one login and the accesses that follow it, by one account in one service. The
// day's sessions are merged in time order by queue; a session only moves forward in time.
type session struct {
	at     int64 // Unix ms of its next event
	ip, ua string
	acct   int32 // -1 for scripts
	group  int32 // the org group it works in, or -1
	script int32 // kScript: index into Generator.scripts
	step   uint16
	steps  uint16 // accesses after the login
	kind   kind
	svc    service
	method uint8
	typos  uint8 // failed attempts before the successful login
}

// queue is a binary min-heap of session indices ordered by (at, index): ties go to the
// session planned first, which keeps the output deterministic.
type queue struct {
	s   []session
	idx []int32
}

func (q *queue) less(i, j int) bool {
	a, b := q.idx[i], q.idx[j]
	return q.s[a].at < q.s[b].at || (q.s[a].at == q.s[b].at && a < b)
}

func (q *queue) init() {
	q.idx = q.idx[:0]
	for i := range q.s {
		q.idx = append(q.idx, int32(i))
	}
	for i := len(q.idx)/2 - 1; i >= 0; i-- {
		q.down(i)
	}
}

func (q *queue) down(i int) {
	n := len(q.idx)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			return
		}
		q.idx[i], q.idx[m] = q.idx[m], q.idx[i]
		i = m
	}
}

// pop removes the head.
func (q *queue) pop() {
	last := len(q.idx) - 1
	q.idx[0] = q.idx[last]
	q.idx = q.idx[:last]
	q.down(0)
}

// Lesson periods of the school day (local time of day).
var periods = [...]int64{hm(8, 15), hm(9, 5), hm(10, 5), hm(11, 30), hm(12, 20), hm(13, 15), hm(14, 5)}

// planner adds one day's sessions to the queue.
type planner struct {
	r     *runner
	rng   *rand.Rand
	day   int
	first int // index of the account's earliest school-hours session, or -1
}

func (pl *planner) between(lo, hi int64) int64 { return lo + pl.rng.Int64N(hi-lo) }
func (pl *planner) pct(p int) bool             { return pl.rng.IntN(100) < p }
func (pl *planner) n(lo, hi int) uint16        { return uint16(lo + pl.rng.IntN(hi-lo+1)) }

// add plans a session of account a starting at local time of day t. method is the login
// method of a session from home; at school the account's first session of the day gets the
// method given to finish and later ones single sign-on.
func (pl *planner) add(a int32, k kind, svc service, t int64, steps uint16, group int32, home bool, method uint8) {
	acc := &pl.r.g.pop.accounts[a]
	s := session{at: pl.r.g.clk.at(pl.day, t), acct: a, group: group, script: -1, kind: k, svc: svc, steps: steps, method: method}
	if home {
		s.ip, s.ua = acc.homeIP, acc.homeUA
		if method == mPassword && pl.pct(3) {
			s.typos = 1
		}
	} else {
		sc := acc.school
		if group >= 0 {
			sc = pl.r.g.pop.orgs[acc.org].groups[group].school
		}
		s.ip, s.ua, s.method = pl.r.g.pop.orgs[acc.org].schools[sc].ip, uaChromebook, mSSO
		if acc.role != rolePupil {
			s.ua = uaWindows
		}
		if pl.first < 0 || s.at < pl.r.q.s[pl.first].at {
			pl.first = len(pl.r.q.s)
		}
	}
	pl.r.q.s = append(pl.r.q.s, s)
}

// finish gives the account's first school-hours session a real login, sometimes mistyped.
func (pl *planner) finish(method uint8) {
	if pl.first >= 0 {
		s := &pl.r.q.s[pl.first]
		s.method = method
		if pl.pct(4) {
			s.typos = 1 + uint8(pl.rng.IntN(2))
		}
	}
	pl.first = -1
}

// plan adds the sessions of every account of the population for day.
func (pl *planner) plan() {
	weekend := pl.r.g.clk.weekend(pl.day)
	pop := pl.r.g.pop
	for a := range pop.accounts {
		acc := &pop.accounts[a]
		if acc.quiet {
			continue
		}
		pl.first = -1
		switch {
		case weekend:
			pl.weekend(int32(a), acc)
			continue
		case acc.role == rolePupil:
			pl.pupil(int32(a), acc)
		case acc.role == roleTeacher:
			pl.teacher(int32(a), acc)
		case acc.role == roleGuardian:
			pl.guardian(int32(a), acc, 40, false)
		case acc.role == rolePrincipal:
			for range 2 {
				pl.add(int32(a), kPrincipal, svcSAS, pl.between(hm(8, 30), hm(15, 30)), pl.n(3, 8), -1, false, mMFA)
			}
		case acc.role == roleOffice:
			for range 3 {
				pl.add(int32(a), kOffice, svcSAS, pl.between(hm(8, 0), hm(15, 30)), pl.n(5, 15), -1, false, mMFA)
			}
		case acc.role == roleSupport:
			pl.add(int32(a), kSupport, svcSAS, pl.between(hm(9, 0), hm(15, 0)), pl.n(1, 4), -1, true, mMFA)
		}
		if acc.role == rolePupil {
			pl.finish(mPassword)
		} else {
			pl.finish(mMFA)
		}
	}
}
