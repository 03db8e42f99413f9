package directory

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
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

// account is what is kept per account (a user of a person or membership event, or a child of
// a guardianship). Records are never removed: an account whose last membership is removed and
// that has no person event answers as an unknown one.
type account struct {
	user    string
	groups  []membership // sorted by group id
	nin     [32]byte     // the NIN hash decoded from hex, when flagHexNIN
	profile uint32       // its person event's org, affiliations and schools (profiles)
	flags   uint8
}

const (
	flagKnown  uint8 = 1 << iota // a person event has been applied
	flagHidden                   // HiddenIdentity
	flagActive                   // Active
	flagHexNIN                   // nin holds the NIN hash (64 lower-case hex digits)
	flagRawNIN                   // the NIN hash is in Directory.rawNINs (any other form)
)

// profile is the part of a person event many persons share.
type profile struct {
	org          string
	affiliations []string
	primary      string
	schools      []string
}

// membership is one account's membership of one group; attrs indexes Directory.attrs.
type membership struct {
	group uint32
	attrs uint32
}

// memberAttrs are the attributes of a membership other than its group.
type memberAttrs struct {
	goType  string
	role    string
	contact bool
	school  string
}

// Directory is the in-memory catalogue. The zero value is not usable; call New.
type Directory struct {
	mu        sync.RWMutex
	seed      maphash.Seed
	accounts  slab[account]
	byUser    index // user -> account
	byNIN     index // hash of the NIN hash -> accounts carrying it
	rawNINs   map[uint32]string
	groups    strTable
	groupSize []int32 // per group id: members
	guardians strTable
	relations map[uint64]uint8 // guardian id << 32 | child account -> status
	profiles  interner[string, profile]
	attrs     interner[memberAttrs, memberAttrs]
	strs      strTable          // orgs, schools, affiliations: stored once
	realms    map[string]string // realm of a person's account -> its org (latest person event)
	persons   int
	members   int
	nonEmpty  int // groups with members
}

// statuses are the guardianship statuses, by their code in relations (0 is none).
var statuses = [...]string{"", StatusActive, StatusRemoved, StatusBlocked}

// New returns an empty catalogue.
func New() *Directory {
	seed := maphash.MakeSeed()
	d := &Directory{
		seed:      seed,
		rawNINs:   make(map[uint32]string),
		groups:    newStrTable(seed),
		guardians: newStrTable(seed),
		relations: make(map[uint64]uint8),
		strs:      newStrTable(seed),
		realms:    make(map[string]string),
	}
	d.profiles.id("", func() (string, profile) { return "", profile{} }) // profile 0: none
	return d
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

// hash is the hash of a user or NIN hash in the catalogue's indexes.
func (d *Directory) hash(s string) uint64 { return maphash.String(d.seed, s) }

// account returns the id of user's record. Callers hold a lock.
func (d *Directory) account(user string) (uint32, bool) {
	return d.byUser.lookup(d.hash(user), func(id uint32) bool { return d.accounts.at(id).user == user })
}

// accountLocked returns the id of user's record, creating it. Callers hold the write lock.
func (d *Directory) accountLocked(user string) uint32 {
	if id, ok := d.account(user); ok {
		return id
	}
	id := d.accounts.add(account{user: strings.Clone(user)})
	d.byUser.insert(d.hash(user), id, func(id uint32) uint64 { return d.hash(d.accounts.at(id).user) })
	return id
}

// ninOf returns the NIN hash of account a ("" when none).
func (d *Directory) ninOf(id uint32, a *account) string {
	switch {
	case a.flags&flagHexNIN != 0:
		return hex.EncodeToString(a.nin[:])
	case a.flags&flagRawNIN != 0:
		return d.rawNINs[id]
	}
	return ""
}

// sameNIN reports whether accounts a and b (both with a NIN hash) carry the same one.
func (d *Directory) sameNIN(ida uint32, a *account, idb uint32, b *account) bool {
	switch {
	case a.flags&flagHexNIN != 0:
		return b.flags&flagHexNIN != 0 && a.nin == b.nin
	case a.flags&flagRawNIN != 0:
		return b.flags&flagRawNIN != 0 && d.rawNINs[ida] == d.rawNINs[idb]
	}
	return false
}

func isLowerHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (d *Directory) ninHashOf(id uint32) uint64 {
	return d.hash(d.ninOf(id, d.accounts.at(id)))
}

// setNIN replaces account id's NIN hash with nin, keeping byNIN current.
func (d *Directory) setNIN(id uint32, nin string) {
	a := d.accounts.at(id)
	if old := d.ninOf(id, a); old == nin {
		return
	} else if old != "" {
		d.byNIN.remove(d.hash(old), id, d.ninHashOf)
		delete(d.rawNINs, id)
	}
	a.flags &^= flagHexNIN | flagRawNIN
	switch {
	case nin == "":
		return
	case len(nin) == 64 && isLowerHex(nin):
		_, _ = hex.Decode(a.nin[:], []byte(nin))
		a.flags |= flagHexNIN
	default:
		d.rawNINs[id] = strings.Clone(nin)
		a.flags |= flagRawNIN
	}
	d.byNIN.insert(d.hash(nin), id, d.ninHashOf)
}

// profileOf interns the org, affiliations and schools of person event e.
func (d *Directory) profileOf(e *event.Event) uint32 {
	// The key: each string and list length-prefixed (a nil list as 0, else length+1).
	b := make([]byte, 0, 128)
	str := func(v string) { b = append(binary.AppendUvarint(b, uint64(len(v))), v...) }
	list := func(vs []string) {
		if vs == nil {
			b = append(b, 0)
			return
		}
		b = binary.AppendUvarint(b, uint64(len(vs))+1)
		for _, v := range vs {
			str(v)
		}
	}
	str(e.Org)
	list(e.Affiliations)
	str(e.PrimaryAffiliation)
	list(e.Schools)
	key := string(b) // a new string
	return d.profiles.id(key, func() (string, profile) {
		return key, profile{org: d.str(e.Org), affiliations: d.strings(e.Affiliations),
			primary: d.str(e.PrimaryAffiliation), schools: d.strings(e.Schools)}
	})
}

// str returns the catalogue's stored copy of v.
func (d *Directory) str(v string) string { return d.strs.str(d.strs.id(v)) }

// strings returns a copy of vs whose elements are the catalogue's stored strings.
func (d *Directory) strings(vs []string) []string {
	if vs == nil {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = d.str(v)
	}
	return out
}

func (d *Directory) upsertPerson(e *event.Event) {
	id := d.accountLocked(e.User)
	a := d.accounts.at(id)
	if a.flags&flagKnown == 0 {
		d.persons++
	}
	d.setNIN(id, e.NINHash)
	if realm := Realm(e.User); realm != "" && e.Org != "" && d.realms[realm] != e.Org {
		d.realms[strings.Clone(realm)] = d.str(e.Org)
	}
	a.profile = d.profileOf(e)
	a.flags = a.flags&(flagHexNIN|flagRawNIN) | flagKnown
	if e.HiddenIdentity {
		a.flags |= flagHidden
	}
	if e.IsActive() {
		a.flags |= flagActive
	}
}

// find returns the position of group g in gs (sorted), or where it would be inserted.
func find(gs []membership, g uint32) (int, bool) {
	return slices.BinarySearchFunc(gs, g, func(m membership, g uint32) int { return cmp.Compare(m.group, g) })
}

func (d *Directory) addMembership(user string, m Membership) {
	a := d.accounts.at(d.accountLocked(user))
	g := d.groups.id(m.Group)
	attrs := memberAttrs{goType: m.GoType, role: m.Role, contact: m.ContactTeacher, school: m.School}
	mm := membership{group: g, attrs: d.attrs.id(attrs, func() (memberAttrs, memberAttrs) {
		a := memberAttrs{goType: d.str(m.GoType), role: d.str(m.Role), contact: m.ContactTeacher, school: d.str(m.School)}
		return a, a
	})}
	i, ok := find(a.groups, g)
	if ok {
		a.groups[i] = mm
		return
	}
	if int(g) >= len(d.groupSize) {
		d.groupSize = append(d.groupSize, make([]int32, int(g)+1-len(d.groupSize))...)
	}
	if d.groupSize[g]++; d.groupSize[g] == 1 {
		d.nonEmpty++
	}
	d.members++
	if len(a.groups) == cap(a.groups) { // grow by half: most accounts hold a handful of groups
		gs := make([]membership, len(a.groups), len(a.groups)+len(a.groups)/2+2)
		copy(gs, a.groups)
		a.groups = gs
	}
	a.groups = slices.Insert(a.groups, i, mm)
}

func (d *Directory) removeMembership(user, group string) {
	id, ok := d.account(user)
	if !ok {
		return
	}
	g, ok := d.groups.lookup(group)
	if !ok {
		return
	}
	a := d.accounts.at(id)
	i, ok := find(a.groups, g)
	if !ok {
		return
	}
	a.groups = slices.Delete(a.groups, i, i+1)
	if len(a.groups) == 0 {
		a.groups = nil
	}
	d.members--
	if d.groupSize[g]--; d.groupSize[g] == 0 {
		d.nonEmpty--
	}
}

func (d *Directory) setGuardianship(guardian, child, status string) {
	k := uint64(d.guardians.id(guardian))<<32 | uint64(d.accountLocked(child))
	d.relations[k] = uint8(slices.Index(statuses[:], status))
}

// Stats reports what the catalogue holds.
func (d *Directory) Stats() Stats {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return Stats{Persons: d.persons, Groups: d.nonEmpty, Memberships: d.members, Guardianships: len(d.relations)}
}
