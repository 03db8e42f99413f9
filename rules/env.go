package rules

import (
	"context"
	"time"

	"breachd/directory"
	"breachd/event"
)

// Env is what a rule expression sees. Expressions are type-checked against it when a rule is
// compiled, so a misspelt field or a wrong argument type is a compile error, not a runtime
// surprise. Names in expressions are those in the expr tags: event, actor, subject, window and
// the functions below.
type Env struct {
	// Event is the event being evaluated, with its Go field names: event.Kind, event.User,
	// event.ActorRole, event.Records, event.Time, event.Affiliations, ...
	Event *event.Event `expr:"event"`
	// Actor holds the directory facts, as of the event's time, of the account the event is
	// about (event.Account(): user, actor, or guardian).
	Actor Facts `expr:"actor"`
	// Subject holds the directory facts, as of the event's time, of whose data was reached:
	// the subject of an access event, the child of a guardianship event; unknown otherwise.
	Subject Facts `expr:"subject"`
	// Window is the rule's sliding-window aggregate for this event's key (zero without a
	// window).
	Window Window `expr:"window"`
	// Ctx is the context of the Evaluate call. Rules do not name it: the compiler passes it
	// (expr.WithContext) as the first argument of the functions that take one, the history
	// lookups, so their I/O ends with the caller's context.
	Ctx context.Context `expr:"ctx"`

	// Directory relations, as of the event's time (event.Time): the facts in force then, whatever
	// the directory has learnt since. Each is a locked map lookup, no I/O.
	Teaches          func(teacher, pupil string) bool    `expr:"teaches"`          // faculty in a group where pupil is a student
	ContactTeacherOf func(teacher, pupil string) bool    `expr:"contactTeacherOf"` // contact teacher of pupil's basis group
	GuardianStatus   func(guardian, child string) string `expr:"guardianStatus"`   // "", active, removed or blocked
	SameNIN          func(user string) []string          `expr:"sameNIN"`          // other accounts with user's NIN hash
	InGroup          func(user, group string) bool       `expr:"inGroup"`          // user is a member of group
	GroupRole        func(user, group string) string     `expr:"groupRole"`        // "", student or faculty
	Person           func(user string) Facts             `expr:"person"`           // facts of any account

	// Local time of the event in the engine's time zone (Europe/Oslo by default).
	LocalHour    func() int `expr:"localHour"`    // 0–23
	LocalWeekday func() int `expr:"localWeekday"` // 0 = Sunday … 6 = Saturday

	// History lookups (see Lookup and lookup.go): questions about the `days` days before the
	// event's own time, answered from a cache or the history store within a hard timeout.
	// days must be an integer literal in [1, MaxLookbackDays]. A lookup that cannot be
	// answered (no Lookup configured, an error, the timeout) gives the safe default — false,
	// or a PriorPerson with Found false — so it never raises an alert by itself; it is counted
	// in RuleStats.LookupErrors.
	NewCountry     func(ctx context.Context, user, country string, days int) bool `expr:"newCountry"`     // no successful login of user from country in the days before
	FirstLogin     func(ctx context.Context, user, service string, days int) bool `expr:"firstLogin"`     // no successful login of user to service in the days before
	PreviousPerson func(ctx context.Context, user string, days int) PriorPerson   `expr:"previousPerson"` // user's latest person record (event's org) in the days before
}

// PriorPerson is a person's directory record as it was before the current event, from history.
// All fields are zero when Found is false (no record in the period, or the lookup failed).
type PriorPerson struct {
	Found          bool
	Time           time.Time // when the record was made (its event time)
	NINHash        string
	HasNIN         bool
	HiddenIdentity bool
	Affiliations   []string
	Active         bool
}

// Facts are the directory facts of one account, flattened for rules. All fields are zero for
// an account the directory does not know.
type Facts struct {
	Known              bool // the directory has a person event or a membership for the account
	HasPerson          bool // the directory has a person event (affiliations etc. are set)
	User               string
	Org                string // realm of the person event
	Affiliations       []string
	PrimaryAffiliation string
	Schools            []string
	HasNIN             bool
	HiddenIdentity     bool
	Active             bool

	// Affiliations, as booleans.
	IsStudent  bool
	IsFaculty  bool
	IsEmployee bool
	IsStaff    bool

	// From memberships.
	IsPupil          bool // a student in a basis group (class)
	IsContactTeacher bool // contact teacher of a basis group
	StudentGroups    int
	FacultyGroups    int
}

// Window is a rule's window aggregate for the current event's key, over the events counted in
// (event time - over, event time].
type Window struct {
	Count    int `expr:"count"`    // events counted
	Distinct int `expr:"distinct"` // distinct values of the window's distinct expression
}

// factsOf looks user up in dir (as of the event's time). An empty user gives empty facts.
func factsOf(dir directory.View, user string) Facts {
	if user == "" {
		return Facts{}
	}
	p, known := dir.Person(user)
	f := Facts{
		Known:              known || p.StudentGroups+p.FacultyGroups > 0,
		HasPerson:          known,
		User:               user,
		Org:                p.Org,
		Affiliations:       p.Affiliations,
		PrimaryAffiliation: p.PrimaryAffiliation,
		Schools:            p.Schools,
		HasNIN:             p.NINHash != "",
		HiddenIdentity:     p.HiddenIdentity,
		Active:             p.Active,
		IsPupil:            p.BasisStudentGroups > 0,
		IsContactTeacher:   p.ContactTeacherGroups > 0,
		StudentGroups:      p.StudentGroups,
		FacultyGroups:      p.FacultyGroups,
	}
	for _, a := range p.Affiliations {
		switch a {
		case "student":
			f.IsStudent = true
		case "faculty":
			f.IsFaculty = true
		case "employee":
			f.IsEmployee = true
		case "staff":
			f.IsStaff = true
		}
	}
	return f
}

// subjectOf is whose data an event reached: the subject of an access, the child of a
// guardianship change.
func subjectOf(e *event.Event) string {
	switch {
	case e.Kind == event.KindAccess:
		return e.Subject
	case e.Kind == event.KindDirectory && e.Op == event.OpGuardianship:
		return e.Child
	}
	return ""
}
