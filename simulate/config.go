package simulate

import (
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // Europe/Oslo must resolve identically on hosts without a zoneinfo database
)

// Config sizes and seeds a simulation. The zero value of a numeric field or of Start means its
// default (see Defaults); Breaches has no default in New and is false unless set.
type Config struct {
	// Seed selects the simulated world: the same Config gives byte-identical output.
	Seed int64
	// Orgs is the number of host organisations (municipalities, Feide realms). Default 2.
	Orgs int
	// SchoolsPerOrg is the number of schools per organisation. Default 2.
	SchoolsPerOrg int
	// ClassesPerSchool is the number of basis groups (classes) per school. Default 4.
	ClassesPerSchool int
	// PupilsPerClass is the number of pupils in every class. Default 22.
	PupilsPerClass int
	// Days is the number of simulated days of activity. Default 1.
	Days int
	// Start is the first simulated day; only its date in its location counts, and all
	// timestamps are written in that location. Default Monday 2026-11-02 in Europe/Oslo.
	Start time.Time
	// Breaches injects the five breach scenarios on day 1 (see Breaches and doc.go).
	Breaches bool
}

// Limits of Config, keeping names, labels and memory sane.
const (
	MaxOrgs             = 1000
	MaxSchoolsPerOrg    = 500
	MaxClassesPerSchool = 60
	MaxPupilsPerClass   = 40
	MaxDays             = 3660

	// The breach scenarios need a second class and a dozen pupils per class.
	minClassesForBreaches = 2
	minPupilsForBreaches  = 12
)

// Defaults returns the configuration of the demo: 2 organisations × 2 schools × 4 classes × 22
// pupils, one day from Monday 2026-11-02 (Europe/Oslo), seed 1, breaches injected.
func Defaults() Config {
	return Config{
		Seed:             1,
		Orgs:             2,
		SchoolsPerOrg:    2,
		ClassesPerSchool: 4,
		PupilsPerClass:   22,
		Days:             1,
		Start:            time.Date(2026, 11, 2, 0, 0, 0, 0, oslo()),
		Breaches:         true,
	}
}

// LastSchoolDay is the last weekday (Monday to Friday) before the date of now in Europe/Oslo:
// the demo's day, so that its events lie in the recent past, where the console's and the
// lookups' default windows (the last days) find them.
func LastSchoolDay(now time.Time) time.Time {
	t := now.In(oslo())
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, oslo()).AddDate(0, 0, -1)
	for d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
		d = d.AddDate(0, 0, -1)
	}
	return d
}

// oslo is Europe/Oslo. The embedded tzdata makes the fallback unreachable in practice; it
// keeps Defaults free of an error return.
func oslo() *time.Location {
	loc, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return loc
}

// withDefaults fills the zero fields of c from Defaults (not Seed or Breaches).
func (c Config) withDefaults() Config {
	d := Defaults()
	def := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	def(&c.Orgs, d.Orgs)
	def(&c.SchoolsPerOrg, d.SchoolsPerOrg)
	def(&c.ClassesPerSchool, d.ClassesPerSchool)
	def(&c.PupilsPerClass, d.PupilsPerClass)
	def(&c.Days, d.Days)
	if c.Start.IsZero() {
		c.Start = d.Start
	}
	return c
}

// Validate reports every field of c (after defaulting) that is out of range.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	check := func(name string, v, lo, hi int) {
		if v < lo || v > hi {
			errs = append(errs, fmt.Errorf("simulate: %s = %d, want %d..%d", name, v, lo, hi))
		}
	}
	check("Orgs", c.Orgs, 1, MaxOrgs)
	check("SchoolsPerOrg", c.SchoolsPerOrg, 1, MaxSchoolsPerOrg)
	check("ClassesPerSchool", c.ClassesPerSchool, 1, MaxClassesPerSchool)
	check("PupilsPerClass", c.PupilsPerClass, 1, MaxPupilsPerClass)
	check("Days", c.Days, 1, MaxDays)
	if c.Breaches {
		if c.ClassesPerSchool < minClassesForBreaches {
			errs = append(errs, fmt.Errorf("simulate: Breaches needs ClassesPerSchool >= %d, got %d", minClassesForBreaches, c.ClassesPerSchool))
		}
		if c.PupilsPerClass < minPupilsForBreaches {
			errs = append(errs, fmt.Errorf("simulate: Breaches needs PupilsPerClass >= %d, got %d", minPupilsForBreaches, c.PupilsPerClass))
		}
	}
	return errors.Join(errs...)
}

// clock converts local wall-clock times of the simulated days to Unix milliseconds.
type clock struct {
	loc  *time.Location
	days []int64 // per day: Unix ms of local midnight, as seen from local noon
}

// newClock lays out the days from start. Midnight is derived from noon so that on the two
// daylight-saving Sundays only the hours before the switch (02:00/03:00) are an hour off.
func newClock(start time.Time, days int) clock {
	loc := start.Location()
	y, m, d := start.Date()
	c := clock{loc: loc, days: make([]int64, days)}
	for i := range c.days {
		noon := time.Date(y, m, d+i, 12, 0, 0, 0, loc)
		c.days[i] = noon.UnixMilli() - 12*hour
	}
	return c
}

// at is Unix ms of the local time of day ms (milliseconds after midnight) on day i.
func (c clock) at(day int, ms int64) int64 { return c.days[day] + ms }

// weekend reports whether day i is a Saturday or Sunday.
func (c clock) weekend(day int) bool {
	wd := time.UnixMilli(c.days[day] + 12*hour).In(c.loc).Weekday()
	return wd == time.Saturday || wd == time.Sunday
}

// time is the time.Time of Unix ms in the simulation's location.
func (c clock) time(ms int64) time.Time { return time.UnixMilli(ms).In(c.loc) }

// Durations in milliseconds.
const (
	second = int64(1000)
	minute = 60 * second
	hour   = 60 * minute
)

// hm is a local time of day in milliseconds.
func hm(h, m int) int64 { return int64(h)*hour + int64(m)*minute }

// Expected events per account and day, from the habits in roles.go (logins, mistyped
// passwords and accesses). TestEstimate keeps them within a few percent of the generator.
const (
	perPupil     = 32.1 // 3 LMS sessions of 1+8, messages 0.5×3, app 0.4, homework 0.35×9
	perTeacher   = 67.4 // attendance 8, 7 periods × 0.6 × 11, assessment 0.75 × 17.5
	perContact   = 2.5  // extra for a contact teacher: 0.5 × (1+4)
	perGuardian  = 2.15 // SAS 0.4 × 3.5, messages 0.25 × 3
	perPrincipal = 13   // 2 × (1+5.5)
	perOffice    = 33   // 3 × (1+10)
	perSupport   = 3.5

	weekendPerPupil    = 2.25 // homework 0.25 × 9
	weekendPerTeacher  = 2.25 // assessment 0.15 × 15
	weekendPerGuardian = 0.81

	guardiansPerPupil = 1.55 // 85 % have two, 18 % share an older sibling's
	breachEvents      = 85   // the five breach scenarios (about; the stuffing run varies)
	edgeEvents        = 65   // the scripted edge cases
)

// Estimate is the expected size of a run of c: the directory snapshot, the events of a school
// day and of a weekend day, and the total over c.Days. It is a model of the generator, not a
// count: real runs land within about 5 %. Use it to size benchmarks and progress reports.
type Estimate struct {
	Snapshot, Weekday, WeekendDay, Total int64
}

// EstimateEvents estimates the events New(c).Run would emit (c is defaulted first).
//
// With P pupils, T teachers, K classes, S schools and O orgs (see doc.go):
//
//	weekday  ≈ 32.1·P + 2.15·1.55·P + 67.4·T + 2.5·K + 46·S + 3.5·O
//	snapshot ≈ P + 1.55·P + T + 2·S + O  (persons)
//	         + 9·P + 10·K               (memberships: pupils in 9 groups, 2 + 8 faculty per class)
//	         + 1.85·P                    (guardian–child relations)
func EstimateEvents(c Config) Estimate {
	c = c.withDefaults()
	schools := float64(c.Orgs * c.SchoolsPerOrg)
	classes := schools * float64(c.ClassesPerSchool)
	pupils := classes * float64(c.PupilsPerClass)
	guardians := guardiansPerPupil * pupils
	teachers := teachers(c)
	var e Estimate
	e.Snapshot = int64(pupils + guardians + teachers + 2*schools + float64(c.Orgs) +
		9*pupils + 10*classes + 1.85*pupils)
	e.Weekday = int64(perPupil*pupils + perGuardian*guardians + perTeacher*teachers + perContact*classes +
		(perPrincipal+perOffice)*schools + perSupport*float64(c.Orgs))
	e.WeekendDay = int64(weekendPerPupil*pupils + weekendPerTeacher*teachers + weekendPerGuardian*guardians)
	e.Total = e.Snapshot
	clk := newClock(c.Start, c.Days)
	for d := range c.Days {
		if clk.weekend(d) {
			e.Total += e.WeekendDay
		} else {
			e.Total += e.Weekday
		}
	}
	e.Total += edgeEvents
	if c.Breaches {
		e.Total += breachEvents
	}
	return e
}

// teachers is the number of teacher accounts: per school a contact teacher per class, one more
// per grade team and two specialists, less the specialist every odd school shares.
func teachers(c Config) float64 {
	var n int
	for s := range c.SchoolsPerOrg {
		_, g := classLayout(c.ClassesPerSchool, s%2 == 1)
		n += c.ClassesPerSchool + g + 2 - s%2
	}
	return float64(n * c.Orgs)
}
