package simulate

// Daily habits by role. Percentages are chances per account per day; n(lo, hi) is the number of
// accesses after the login. doc.go sums them up into the expected volume.

// pupil: two or three LMS sessions in lessons, sometimes the messaging app, an OIDC app
// (login only) and homework in the evening.
func (pl *planner) pupil(a int32, acc *account) {
	cl := &pl.r.g.pop.orgs[acc.org].classes[acc.class]
	for range 2 + pl.rng.IntN(3) {
		g := cl.teaching[pl.rng.IntN(len(cl.teaching))]
		t := periods[pl.rng.IntN(len(periods))] + pl.between(2*minute, 15*minute)
		pl.add(a, kPupilLMS, svcLMS, t, pl.n(4, 12), g, false, mSSO)
	}
	if pl.pct(50) {
		pl.add(a, kPupilMsg, svcMsg, pl.between(hm(8, 0), hm(15, 30)), pl.n(1, 3), -1, false, mSSO)
	}
	if pl.pct(40) {
		svc := svcBooks
		if pl.pct(50) {
			svc = svcCalendar
		}
		pl.add(a, kApp, svc, pl.between(hm(8, 0), hm(14, 30)), 0, -1, false, mSSO)
	}
	if pl.pct(35) {
		pl.homework(a, cl, hm(15, 45), hm(21, 30))
	}
}

func (pl *planner) homework(a int32, cl *class, from, to int64) {
	g := cl.teaching[pl.rng.IntN(len(cl.teaching))]
	pl.add(a, kPupilLMS, svcLMS, pl.between(from, to), pl.n(4, 12), g, true, mPassword)
}

// teacher: attendance in the school administrative system first thing, LMS work in about half
// of the periods, assessment after school or in the evening, and, for contact teachers, the
// class's well-being and family notes.
func (pl *planner) teacher(a int32, acc *account) {
	if len(acc.teaches) > 0 {
		pl.add(a, kTeacherAbsence, svcSAS, pl.between(hm(8, 0), hm(8, 20)), pl.n(4, 10), pl.taught(acc), false, mSSO)
		for _, p := range periods {
			if pl.pct(60) {
				pl.add(a, kLesson, svcLMS, p+pl.between(2*minute, 8*minute), pl.n(5, 15), pl.taught(acc), false, mSSO)
			}
		}
		if pl.pct(75) {
			if pl.pct(70) {
				pl.add(a, kGrading, svcLMS, pl.between(hm(14, 30), hm(16, 15)), pl.n(10, 25), pl.taught(acc), false, mSSO)
			} else {
				pl.grading(a, acc, hm(19, 0), hm(21, 30))
			}
		}
	}
	if acc.class >= 0 && pl.pct(50) {
		basis := pl.r.g.pop.orgs[acc.org].classes[acc.class].basis
		pl.add(a, kContact, svcSAS, pl.between(hm(11, 0), hm(15, 0)), pl.n(2, 6), basis, false, mSSO)
	}
}

func (pl *planner) taught(acc *account) int32 { return acc.teaches[pl.rng.IntN(len(acc.teaches))] }

func (pl *planner) grading(a int32, acc *account, from, to int64) {
	pl.add(a, kGrading, svcLMS, pl.between(from, to), pl.n(8, 20), pl.taught(acc), true, mMFA)
}

// guardian: the school administrative system (absence, grades) and messages, through
// ID-porten from home, mostly after work, some in the morning to report absence.
func (pl *planner) guardian(a int32, acc *account, pct int, weekend bool) {
	if len(acc.kin) == 0 {
		return
	}
	when := func() int64 {
		switch {
		case weekend:
			return pl.between(hm(10, 0), hm(21, 0))
		case pl.pct(65):
			return pl.between(hm(16, 0), hm(22, 0))
		}
		return pl.between(hm(7, 0), hm(8, 45))
	}
	if pl.pct(pct) {
		pl.add(a, kGuardianSAS, svcSAS, when(), pl.n(1, 4), -1, true, mIDPorten)
	}
	if pl.pct(pct * 5 / 8) {
		pl.add(a, kGuardianMsg, svcMsg, when(), pl.n(1, 3), -1, true, mIDPorten)
	}
}

// weekend: homework, some marking and guardians; no school hours, no staff.
func (pl *planner) weekend(a int32, acc *account) {
	switch acc.role {
	case rolePupil:
		if pl.pct(25) {
			pl.homework(a, &pl.r.g.pop.orgs[acc.org].classes[acc.class], hm(11, 0), hm(21, 30))
		}
	case roleTeacher:
		if len(acc.teaches) > 0 && pl.pct(15) {
			pl.grading(a, acc, hm(18, 0), hm(21, 30))
		}
	case roleGuardian:
		pl.guardian(a, acc, 15, true)
	}
}
