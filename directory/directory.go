package directory

import (
	"fmt"
	"slices"
	"sync"

	"breachd/event"
)

// Group roles and guardianship statuses of events.md.
const (
	RoleStudent = "student"
	RoleFaculty = "faculty"

	GoTypeBasis    = "b" // basis group (class)
	GoTypeTeaching = "u" // teaching group
	GoTypeOther    = "a"

	StatusActive  = "active"
	StatusRemoved = "removed"
	StatusBlocked = "blocked"
)

// Person is what the catalogue knows of one account: the fields of its latest `person` event and
// counts derived from its current memberships.
type Person struct {
	User               string
	Org                string   // the org of the person event: the account's home organisation (HomeOrg)
	Affiliations       []string // eduPersonAffiliation values; shared, do not modify
	PrimaryAffiliation string
	Schools            []string // organisation numbers; shared, do not modify
	NINHash            string   // keyed hash of the NIN, empty when none
	HiddenIdentity     bool     // protected identity / secret address
	Active             bool

	// Derived from memberships and kept current by Apply; filled even for an account that has
	// memberships but no person event yet.
	StudentGroups        int // groups where the account is a student
	FacultyGroups        int // groups where the account is faculty
	BasisStudentGroups   int // basis groups (classes) where the account is a student: a pupil
	ContactTeacherGroups int // basis groups where the account is the contact teacher
}

// HasAffiliation reports whether a is one of p's affiliations.
func (p *Person) HasAffiliation(a string) bool { return slices.Contains(p.Affiliations, a) }

// Membership is one account's membership of one group.
type Membership struct {
	Group          string
	GoType         string // u, b or a; empty when the source did not say
	Role           string // student or faculty
	ContactTeacher bool
	School         string
}

// Stats counts what the catalogue holds, for logs and metrics.
type Stats struct {
	Persons       int // accounts with a person event
	Groups        int // groups with at least one member
	Memberships   int
	Guardianships int // guardian–child relations of any status
}

// account is everything kept per account. person's slices are never modified after Apply has
// stored them, so a Person copied out shares them safely.
type account struct {
	person Person // descriptive fields only; counts live below
	known  bool   // a person event has been applied
	groups map[string]Membership
	counts counts
}

type counts struct{ student, faculty, basisStudent, contact int }

func (c *counts) add(m Membership, d int) {
	switch m.Role {
	case RoleStudent:
		c.student += d
		if m.GoType == GoTypeBasis {
			c.basisStudent += d
		}
	case RoleFaculty:
		c.faculty += d
		if m.ContactTeacher && m.GoType == GoTypeBasis {
			c.contact += d
		}
	}
}

// Directory is the in-memory catalogue. The zero value is not usable; call New.
type Directory struct {
	mu        sync.RWMutex
	accounts  map[string]*account
	groupSize map[string]int                 // group -> members
	guardians map[string]map[string]string   // guardian -> child -> status
	nins      map[string]map[string]struct{} // NIN hash -> accounts
	realms    map[string]string              // realm of a person's account -> its org (latest person event)
	persons   int
	members   int
	relations int
}

// New returns an empty catalogue.
func New() *Directory {
	return &Directory{
		accounts:  make(map[string]*account),
		groupSize: make(map[string]int),
		guardians: make(map[string]map[string]string),
		nins:      make(map[string]map[string]struct{}),
		realms:    make(map[string]string),
	}
}

// Apply applies one directory event. Events of other kinds are ignored (nil error). It returns
// an error, and changes nothing, when a directory event lacks what its op needs.
func (d *Directory) Apply(e *event.Event) error {
	if e.Kind != event.KindDirectory {
		return nil
	}
	switch e.Op {
	case event.OpPerson:
		if e.User == "" {
			return fmt.Errorf("directory event %s: person: user required", e.ID)
		}
		d.mu.Lock()
		d.upsertPerson(e)
		d.mu.Unlock()
	case event.OpMembership:
		if e.User == "" || e.Group == "" {
			return fmt.Errorf("directory event %s: membership: user and group required", e.ID)
		}
		m := Membership{Group: e.Group, GoType: e.GoType, Role: e.Role, ContactTeacher: e.ContactTeacher, School: e.School}
		switch e.Change {
		case "add":
			if m.Role != RoleStudent && m.Role != RoleFaculty {
				return fmt.Errorf("directory event %s: membership: unknown role %q", e.ID, e.Role)
			}
			d.mu.Lock()
			d.addMembership(e.User, m)
			d.mu.Unlock()
		case "remove":
			d.mu.Lock()
			d.removeMembership(e.User, e.Group)
			d.mu.Unlock()
		default:
			return fmt.Errorf("directory event %s: membership: unknown change %q", e.ID, e.Change)
		}
	case event.OpGuardianship:
		if e.Guardian == "" || e.Child == "" {
			return fmt.Errorf("directory event %s: guardianship: guardian and child required", e.ID)
		}
		switch e.Status {
		case StatusActive, StatusRemoved, StatusBlocked:
		default:
			return fmt.Errorf("directory event %s: guardianship: unknown status %q", e.ID, e.Status)
		}
		d.mu.Lock()
		d.setGuardianship(e.Guardian, e.Child, e.Status)
		d.mu.Unlock()
	default:
		return fmt.Errorf("directory event %s: unknown op %q", e.ID, e.Op)
	}
	return nil
}

// accountLocked returns the account record of user, creating it. Callers hold the write lock.
func (d *Directory) accountLocked(user string) *account {
	a := d.accounts[user]
	if a == nil {
		a = &account{person: Person{User: user}}
		d.accounts[user] = a
	}
	return a
}

func (d *Directory) upsertPerson(e *event.Event) {
	a := d.accountLocked(e.User)
	if !a.known {
		d.persons++
	}
	if old := a.person.NINHash; old != "" && old != e.NINHash {
		if set := d.nins[old]; set != nil {
			delete(set, e.User)
			if len(set) == 0 {
				delete(d.nins, old)
			}
		}
	}
	if e.NINHash != "" {
		set := d.nins[e.NINHash]
		if set == nil {
			set = make(map[string]struct{}, 1)
			d.nins[e.NINHash] = set
		}
		set[e.User] = struct{}{}
	}
	if realm := Realm(e.User); realm != "" && e.Org != "" {
		d.realms[realm] = e.Org
	}
	a.known = true
	a.person = Person{
		User:               e.User,
		Org:                e.Org,
		Affiliations:       slices.Clone(e.Affiliations),
		PrimaryAffiliation: e.PrimaryAffiliation,
		Schools:            slices.Clone(e.Schools),
		NINHash:            e.NINHash,
		HiddenIdentity:     e.HiddenIdentity,
		Active:             e.IsActive(),
	}
}

func (d *Directory) addMembership(user string, m Membership) {
	a := d.accountLocked(user)
	if a.groups == nil {
		a.groups = make(map[string]Membership, 4)
	}
	if old, ok := a.groups[m.Group]; ok {
		a.counts.add(old, -1)
	} else {
		d.groupSize[m.Group]++
		d.members++
	}
	a.groups[m.Group] = m
	a.counts.add(m, +1)
}

func (d *Directory) removeMembership(user, group string) {
	a := d.accounts[user]
	if a == nil {
		return
	}
	old, ok := a.groups[group]
	if !ok {
		return
	}
	delete(a.groups, group)
	a.counts.add(old, -1)
	d.members--
	if d.groupSize[group]--; d.groupSize[group] <= 0 {
		delete(d.groupSize, group)
	}
	if !a.known && len(a.groups) == 0 {
		delete(d.accounts, user)
	}
}

func (d *Directory) setGuardianship(guardian, child, status string) {
	children := d.guardians[guardian]
	if children == nil {
		children = make(map[string]string, 2)
		d.guardians[guardian] = children
	}
	if _, ok := children[child]; !ok {
		d.relations++
	}
	children[child] = status
}

// Stats reports what the catalogue holds.
func (d *Directory) Stats() Stats {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return Stats{Persons: d.persons, Groups: len(d.groupSize), Memberships: d.members, Guardianships: d.relations}
}
