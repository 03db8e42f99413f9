package directory

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

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

// Person is what the catalogue knows of one account at a time: the fields of its `person`
// event in force then and counts derived from its memberships then.
type Person struct {
	User               string
	Org                string   // the org of the person event: the account's home organisation (HomeOrg)
	Affiliations       []string // eduPersonAffiliation values; shared, do not modify
	PrimaryAffiliation string
	Schools            []string // organisation numbers; shared, do not modify
	NINHash            string   // keyed hash of the NIN, empty when none
	HiddenIdentity     bool     // protected identity / secret address
	Active             bool

	// Derived from the memberships in force; filled even for an account that has memberships
	// but no person event.
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
	Versioned     int // facts with older versions (or a removal) kept within the horizon
}

// account is what is kept per account (a user of a person or membership event, or a child of
// a guardianship). Records are never removed: an account whose last membership is removed and
// that has no person event answers as an unknown one. It holds the current version of each of
// its facts (versions.go, doc.go); older ones, where kept, are in Directory's histories.
type account struct {
	user   string
	groups []membership // present memberships, sorted by group id
	nin    [32]byte     // the NIN hash decoded from hex, when flagHexNIN
	meta   uint32       // its person event's profile (profiles) << 8 | flags
	at     stamp        // when the current person version was last asserted
}

const (
	flagKnown  uint8 = 1 << iota // a person event has been applied
	flagHidden                   // HiddenIdentity
	flagActive                   // Active
	flagHexNIN                   // nin holds the NIN hash (64 lower-case hex digits)
	flagRawNIN                   // the NIN hash is in Directory.rawNINs (any other form)
	flagHeld                     // the person version was asserted before at too (history.held)
	flagBorn                     // no person before the person version's first time (history.born)
)

// maxProfiles is how many distinct profiles account.meta can address.
const maxProfiles = 1 << 24

func (a *account) profileID() uint32 { return a.meta >> 8 }
func (a *account) flags() uint8      { return uint8(a.meta) }
func (a *account) setFlags(f uint8)  { a.meta = a.meta&^0xff | uint32(f) }

// profile is the part of a person event many persons share.
type profile struct {
	org          string
	affiliations []string
	primary      string
	schools      []string
}

// membership is one account's membership of one group; attrs indexes Directory.attrs (with
// heldAttrs set when the membership was asserted before at too: history.held, and bornAttrs
// when it was absent before its first time: history.born); at is when it was last asserted.
type membership struct {
	group uint32
	attrs uint32
	at    stamp
}

const (
	// heldAttrs is the bit of membership.attrs that says held; attrs ids stay below bornAttrs.
	heldAttrs = 1 << 31
	// bornAttrs is the bit of membership.attrs that says born.
	bornAttrs = 1 << 30
	// absent is the attrs of a removed membership in a membership's history.
	absent = ^uint32(0)
)

func (m membership) attrsID() uint32 { return m.attrs &^ (heldAttrs | bornAttrs) }
func (m membership) held() bool      { return m.attrs&heldAttrs != 0 }
func (m membership) born() bool      { return m.attrs&bornAttrs != 0 }

// memberAttrs are the attributes of a membership other than its group.
type memberAttrs struct {
	goType  string
	role    string
	contact bool
	school  string
}

// personValue is one version of a person record.
type personValue struct {
	profile uint32
	flags   uint8 // flagHidden, flagActive
	nin     string
}

// noPerson is the person version of an account before its first person event, in the
// history of a person first seen after its org's first snapshot (history.putFrom).
var noPerson = personValue{profile: maxProfiles}

// relation is the current version of a guardian–child relation.
type relation struct {
	at     stamp
	status uint8 // index in statuses
	held   bool  // asserted before at too (history.held)
	born   bool  // none before its first time (history.born)
}

// DefaultHorizon is how far back from the newest directory event a Directory keeps the
// versions of facts that changed, unless WithHorizon says otherwise.
const DefaultHorizon = 30 * 24 * time.Hour

// Option configures a Directory.
type Option func(*Directory)

// WithHorizon keeps the older versions of a fact that changed for h behind the newest
// directory event applied (doc.go); h ≤ 0 keeps none beyond the latest.
func WithHorizon(h time.Duration) Option {
	return func(d *Directory) { d.horizon = stamp(min(max(h, 0)/time.Second, time.Duration(stampNow-1))) }
}

// Directory is the in-memory catalogue. The zero value is not usable; call New.
type Directory struct {
	mu        sync.RWMutex
	seed      maphash.Seed
	accounts  slab[account]
	byUser    index // user -> account
	byNIN     index // hash of the current NIN hash -> accounts carrying it
	rawNINs   map[uint32]string
	groups    strTable
	groupSize []int32 // per group id: members
	guardians strTable
	relations map[uint64]relation // guardian id << 32 | child account -> current version
	profiles  interner[string, profile]
	attrs     interner[memberAttrs, memberAttrs]
	strs      strTable             // orgs, schools, affiliations: stored once
	realms    map[string]*realmOrg // realm of a person's account -> its org (latest person event)
	orgFirst  map[string]stamp     // org -> its first directory event's time (cover)
	persons   int
	members   int
	nonEmpty  int // groups with members

	// Versions (versions.go): only of facts that changed within the horizon.
	horizon    stamp                            // in seconds; 0 keeps no versions beyond the latest
	newest     stamp                            // the latest directory event time applied
	swept      stamp                            // newest when the histories were last folded
	personHist map[uint32]*history[personValue] // account -> person versions
	memberHist map[uint64]*history[uint32]      // account << 32 | group -> attrs or absent
	relHist    map[uint64]*history[uint8]       // as relations -> status
	histGroups map[uint32][]uint32              // account -> groups with a memberHist entry
	ninHist    map[string][]uint32              // NIN hash -> accounts with it in personHist

	// The first time of a compact record that is born and held (history.born): only of facts
	// first seen after their org's first snapshot and asserted again since, within the horizon.
	personFirst map[uint32]stamp // account -> first time of its person version
	memberFirst map[uint64]stamp // as memberHist -> first time of the membership
	relFirst    map[uint64]stamp // as relations -> first time of the status
}

// realmOrg is the org of the latest person event of a realm.
type realmOrg struct {
	org string
	at  stamp
}

// statuses are the guardianship statuses, by their code in relations (0 is none).
var statuses = [...]string{"", StatusActive, StatusRemoved, StatusBlocked}

// New returns an empty catalogue keeping versions for DefaultHorizon unless an option says
// otherwise.
func New(opts ...Option) *Directory {
	seed := maphash.MakeSeed()
	d := &Directory{
		seed:       seed,
		rawNINs:    make(map[uint32]string),
		groups:     newStrTable(seed),
		guardians:  newStrTable(seed),
		relations:  make(map[uint64]relation),
		strs:       newStrTable(seed),
		realms:     make(map[string]*realmOrg),
		orgFirst:   make(map[string]stamp),
		horizon:    stamp(DefaultHorizon / time.Second),
		personHist: make(map[uint32]*history[personValue]),
		memberHist: make(map[uint64]*history[uint32]),
		relHist:    make(map[uint64]*history[uint8]),
		histGroups: make(map[uint32][]uint32),
		ninHist:    make(map[string][]uint32),

		personFirst: make(map[uint32]stamp),
		memberFirst: make(map[uint64]stamp),
		relFirst:    make(map[uint64]stamp),
	}
	for _, o := range opts {
		o(d)
	}
	d.profiles.id("", func() (string, profile) { return "", profile{} }) // profile 0: none
	return d
}

// Apply applies one directory event: it inserts a version of the fact it states at the
// event's time (doc.go). Events of other kinds are ignored (nil error). It returns an error,
// and changes nothing, when a directory event lacks what its op needs.
func (d *Directory) Apply(e *event.Event) error {
	if e.Kind != event.KindDirectory {
		return nil
	}
	t := stampOf(e.Time)
	switch e.Op {
	case event.OpPerson:
		if e.User == "" {
			return fmt.Errorf("directory event %s: person: user required", e.ID)
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.advance(t)
		d.putPerson(e, t, d.cover(e.Org, t))
	case event.OpMembership:
		if e.User == "" || e.Group == "" {
			return fmt.Errorf("directory event %s: membership: user and group required", e.ID)
		}
		switch e.Change {
		case "add":
			if e.Role != RoleStudent && e.Role != RoleFaculty {
				return fmt.Errorf("directory event %s: membership: unknown role %q", e.ID, e.Role)
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			d.advance(t)
			m := memberAttrs{goType: e.GoType, role: e.Role, contact: e.ContactTeacher, school: e.School}
			d.putMembership(e.User, e.Group, d.attrs.id(m, func() (memberAttrs, memberAttrs) {
				a := memberAttrs{goType: d.str(m.goType), role: d.str(m.role), contact: m.contact, school: d.str(m.school)}
				return a, a
			}), t, d.cover(e.Org, t))
		case "remove":
			d.mu.Lock()
			defer d.mu.Unlock()
			d.advance(t)
			d.putMembership(e.User, e.Group, absent, t, d.cover(e.Org, t))
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
		defer d.mu.Unlock()
		d.advance(t)
		d.putGuardianship(e.Guardian, e.Child, uint8(slices.Index(statuses[:], e.Status)), t, d.cover(e.Org, t))
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
	case a.flags()&flagHexNIN != 0:
		return hex.EncodeToString(a.nin[:])
	case a.flags()&flagRawNIN != 0:
		return d.rawNINs[id]
	}
	return ""
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
	a.setFlags(a.flags() &^ (flagHexNIN | flagRawNIN))
	switch {
	case nin == "":
		return
	case len(nin) == 64 && isLowerHex(nin):
		_, _ = hex.Decode(a.nin[:], []byte(nin))
		a.setFlags(a.flags() | flagHexNIN)
	default:
		d.rawNINs[id] = strings.Clone(nin)
		a.setFlags(a.flags() | flagRawNIN)
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

// Stats reports what the catalogue holds.
func (d *Directory) Stats() Stats {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return Stats{Persons: d.persons, Groups: d.nonEmpty, Memberships: d.members, Guardianships: len(d.relations),
		Versioned: len(d.personHist) + len(d.memberHist) + len(d.relHist)}
}
