package directory

import (
	"cmp"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// View answers the relation questions as of one time: each fact's version in force then
// (doc.go). It is a small value; make one per question or per event (Directory.At). Its
// methods take the catalogue's read lock, like the Directory's.
type View struct {
	d  *Directory
	at stamp
}

// At returns the catalogue as of t: what a rule evaluating an event of time t must see,
// whatever has been applied since.
func (d *Directory) At(t time.Time) View { return View{d: d, at: stampOf(t)} }

// now is the current state: each fact's latest version by time.
func (d *Directory) now() View { return View{d: d, at: stampNow} }

// Person answers View.Person for the current state.
func (d *Directory) Person(user string) (Person, bool) { return d.now().Person(user) }

// GroupsOf answers View.GroupsOf for the current state.
func (d *Directory) GroupsOf(user string) []Membership { return d.now().GroupsOf(user) }

// IsMember answers View.IsMember for the current state.
func (d *Directory) IsMember(user, group string) (string, bool) { return d.now().IsMember(user, group) }

// SharedGroups answers View.SharedGroups for the current state.
func (d *Directory) SharedGroups(a, b string) []string { return d.now().SharedGroups(a, b) }

// Teaches answers View.Teaches for the current state.
func (d *Directory) Teaches(teacher, pupil string) bool { return d.now().Teaches(teacher, pupil) }

// ContactTeacherOf answers View.ContactTeacherOf for the current state.
func (d *Directory) ContactTeacherOf(teacher, pupil string) bool {
	return d.now().ContactTeacherOf(teacher, pupil)
}

// GuardianStatus answers View.GuardianStatus for the current state.
func (d *Directory) GuardianStatus(guardian, child string) string {
	return d.now().GuardianStatus(guardian, child)
}

// SameNIN answers View.SameNIN for the current state.
func (d *Directory) SameNIN(user string) []string { return d.now().SameNIN(user) }

// Person returns what the catalogue knows of user. ok is false when no person event has been
// applied for user; the returned Person then still carries the membership counts, if any.
func (v View) Person(user string) (p Person, ok bool) {
	d := v.d
	d.mu.RLock()
	defer d.mu.RUnlock()
	id, found := d.account(user)
	if !found {
		return Person{User: user}, false
	}
	a := d.accounts.at(id)
	p = Person{User: a.user}
	known := a.flags()&flagKnown != 0
	var pv personValue
	if known {
		pv = v.person(id, a)
		known = pv != noPerson
	}
	if known {
		pr := &d.profiles.vals[pv.profile]
		p.Org, p.Affiliations, p.PrimaryAffiliation, p.Schools = pr.org, pr.affiliations, pr.primary, pr.schools
		p.NINHash = pv.nin
		p.HiddenIdentity = pv.flags&flagHidden != 0
		p.Active = pv.flags&flagActive != 0
	}
	for _, m := range v.groups(id) {
		at := &d.attrs.vals[m.attrsID()]
		switch at.role {
		case RoleStudent:
			p.StudentGroups++
			if at.goType == GoTypeBasis {
				p.BasisStudentGroups++
			}
		case RoleFaculty:
			p.FacultyGroups++
			if at.contact && at.goType == GoTypeBasis {
				p.ContactTeacherGroups++
			}
		}
	}
	return p, known
}

// person is the person version of known account a in force at v's time. Callers hold a lock.
func (v View) person(id uint32, a *account) personValue {
	if h := v.d.personHist[id]; h != nil && v.at != stampNow {
		return h.at(v.at)
	}
	if v.personAbsent(id, a) {
		return noPerson
	}
	return v.d.personOf(id, a)
}

// personAbsent reports whether account a's compact person record is born after v's time
// (recordFirst). Callers hold a lock.
func (v View) personAbsent(id uint32, a *account) bool {
	f := a.flags()
	return absentAt(v.d.personFirst, id, a.at, f&flagHeld != 0, f&flagBorn != 0, v.d.floor(), v.at)
}

// memberAbsent reports whether account id's compact membership m is born after v's time
// (recordFirst). Callers hold a lock.
func (v View) memberAbsent(id uint32, m membership) bool {
	return absentAt(v.d.memberFirst, memberKey(id, m.group), m.at, m.held(), m.born(), v.d.floor(), v.at)
}

// membershipOf is the Membership m of the catalogue's compact form. Callers hold a lock.
func (d *Directory) membershipOf(m membership) Membership {
	at := &d.attrs.vals[m.attrsID()]
	return Membership{Group: d.groups.str(m.group), GoType: at.goType, Role: at.role, ContactTeacher: at.contact, School: at.school}
}

// groups returns the memberships of account id in force at v's time, sorted by group id; nil
// when none. Callers hold a lock and do not modify the result.
func (v View) groups(id uint32) []membership {
	d := v.d
	cur := d.accounts.at(id).groups
	if v.at == stampNow {
		return cur
	}
	gone := func(m membership) bool { return v.memberAbsent(id, m) }
	hg := d.histGroups[id]
	if len(hg) == 0 && !slices.ContainsFunc(cur, gone) {
		return cur
	}
	out := make([]membership, 0, len(cur)+len(hg))
	for _, m := range cur {
		if _, ok := slices.BinarySearch(hg, m.group); !ok && !gone(m) {
			out = append(out, m)
		}
	}
	for _, g := range hg {
		if attrs := d.memberHist[memberKey(id, g)].at(v.at); attrs != absent {
			out = append(out, membership{group: g, attrs: attrs})
		}
	}
	slices.SortFunc(out, func(x, y membership) int { return cmp.Compare(x.group, y.group) })
	return out
}

// groupsOf returns the memberships of user at v's time (see groups). Callers hold a lock.
func (v View) groupsOf(user string) []membership {
	if id, ok := v.d.account(user); ok {
		return v.groups(id)
	}
	return nil
}

// GroupsOf returns user's memberships, ordered by group name.
func (v View) GroupsOf(user string) []Membership {
	d := v.d
	d.mu.RLock()
	defer d.mu.RUnlock()
	gs := v.groupsOf(user)
	if len(gs) == 0 {
		return nil
	}
	out := make([]Membership, len(gs))
	for i, m := range gs {
		out[i] = d.membershipOf(m)
	}
	slices.SortFunc(out, func(x, y Membership) int { return strings.Compare(x.Group, y.Group) })
	return out
}

// IsMember reports whether user is a member of group, and in which role.
func (v View) IsMember(user, group string) (role string, ok bool) {
	d := v.d
	d.mu.RLock()
	defer d.mu.RUnlock()
	g, ok := d.groups.lookup(group)
	if !ok {
		return "", false
	}
	id, ok := d.account(user)
	if !ok {
		return "", false
	}
	if h := d.memberHist[memberKey(id, g)]; h != nil && v.at != stampNow {
		if attrs := h.at(v.at); attrs != absent {
			return d.attrs.vals[attrs].role, true
		}
		return "", false
	}
	gs := d.accounts.at(id).groups
	if i, ok := find(gs, g); ok && !v.memberAbsent(id, gs[i]) {
		return d.attrs.vals[gs[i].attrsID()].role, true
	}
	return "", false
}

// SharedGroups returns the groups both a and b are members of (in any role), ordered.
func (v View) SharedGroups(a, b string) []string {
	v.d.mu.RLock()
	defer v.d.mu.RUnlock()
	var out []string
	v.eachShared(a, b, func(ma, _ Membership) bool {
		out = append(out, ma.Group)
		return true
	})
	slices.Sort(out)
	return out
}

// Teaches reports whether teacher is faculty in a group where pupil is a student.
func (v View) Teaches(teacher, pupil string) bool {
	return v.sharesGroupWhere(teacher, pupil, func(mt, mp Membership) bool {
		return mt.Role == RoleFaculty && mp.Role == RoleStudent
	})
}

// ContactTeacherOf reports whether teacher is the contact teacher of a basis group (class)
// where pupil is a student.
func (v View) ContactTeacherOf(teacher, pupil string) bool {
	return v.sharesGroupWhere(teacher, pupil, func(mt, mp Membership) bool {
		return mt.Role == RoleFaculty && mt.ContactTeacher && mt.GoType == GoTypeBasis && mp.Role == RoleStudent
	})
}

// sharesGroupWhere reports whether a and b are members of a group where their memberships
// (a's, b's) satisfy ok.
func (v View) sharesGroupWhere(a, b string, ok func(ma, mb Membership) bool) bool {
	v.d.mu.RLock()
	defer v.d.mu.RUnlock()
	found := false
	v.eachShared(a, b, func(ma, mb Membership) bool {
		found = ok(ma, mb)
		return !found
	})
	return found
}

// eachShared calls fn with a's and b's memberships of each group they share, until fn returns
// false: a merge of the two sorted membership lists. Callers hold the read lock.
func (v View) eachShared(a, b string, fn func(ma, mb Membership) bool) {
	if a == b {
		return
	}
	d := v.d
	ga, gb := v.groupsOf(a), v.groupsOf(b)
	for i, j := 0, 0; i < len(ga) && j < len(gb); {
		switch {
		case ga[i].group < gb[j].group:
			i++
		case ga[i].group > gb[j].group:
			j++
		default:
			if !fn(d.membershipOf(ga[i]), d.membershipOf(gb[j])) {
				return
			}
			i, j = i+1, j+1
		}
	}
}

// GuardianStatus returns the status of the guardian–child relation: "" when there is none,
// else active, removed or blocked.
func (v View) GuardianStatus(guardian, child string) string {
	d := v.d
	d.mu.RLock()
	defer d.mu.RUnlock()
	g, ok := d.guardians.lookup(guardian)
	if !ok {
		return ""
	}
	c, ok := d.account(child)
	if !ok {
		return ""
	}
	k := uint64(g)<<32 | uint64(c)
	if h := d.relHist[k]; h != nil && v.at != stampNow {
		return statuses[h.at(v.at)]
	}
	r := d.relations[k]
	if absentAt(d.relFirst, k, r.at, r.held, r.born, d.floor(), v.at) {
		return ""
	}
	return statuses[r.status]
}

// SameNIN returns the other accounts whose person carried user's (non-empty) NIN hash at v's
// time, ordered; nil when user had no NIN hash or no other account shared it.
func (v View) SameNIN(user string) []string {
	d := v.d
	d.mu.RLock()
	defer d.mu.RUnlock()
	id, ok := d.account(user)
	if !ok {
		return nil
	}
	a := d.accounts.at(id)
	if a.flags()&flagKnown == 0 {
		return nil
	}
	nin := v.person(id, a).nin
	if nin == "" {
		return nil
	}
	var raw [32]byte // nin decoded, when it is hex: the accounts' form (setNIN)
	isHex := len(nin) == 64 && isLowerHex(nin)
	if isHex {
		_, _ = hex.Decode(raw[:], []byte(nin))
	}
	var out []string
	match := func(o uint32) {
		if b := d.accounts.at(o); o != id && v.hasNIN(o, b, nin, isHex, &raw) && !slices.Contains(out, b.user) {
			out = append(out, b.user)
		}
	}
	d.byNIN.each(d.hash(nin), func(o uint32) bool {
		match(o)
		return true
	})
	for _, o := range d.ninHist[nin] {
		match(o)
	}
	slices.Sort(out)
	return out
}

// hasNIN reports whether account o carried the NIN hash nin at v's time, comparing the current
// one in its stored form (raw: nin decoded, when isHex) without formatting it. Callers hold a
// lock.
func (v View) hasNIN(o uint32, b *account, nin string, isHex bool, raw *[32]byte) bool {
	if h := v.d.personHist[o]; h != nil && v.at != stampNow {
		return h.at(v.at).nin == nin
	}
	switch {
	case v.personAbsent(o, b):
		return false
	case b.flags()&flagHexNIN != 0:
		return isHex && b.nin == *raw
	case b.flags()&flagRawNIN != 0:
		return v.d.rawNINs[o] == nin
	}
	return false
}
