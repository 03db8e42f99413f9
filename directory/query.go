package directory

import (
	"slices"
	"strings"
)

// Person returns what the catalogue knows of user. ok is false when no person event has been
// applied for user; the returned Person then still carries the membership counts, if any.
func (d *Directory) Person(user string) (p Person, ok bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	id, found := d.account(user)
	if !found {
		return Person{User: user}, false
	}
	a := d.accounts.at(id)
	p = Person{User: a.user}
	if a.flags&flagKnown != 0 {
		pr := &d.profiles.vals[a.profile]
		p.Org, p.Affiliations, p.PrimaryAffiliation, p.Schools = pr.org, pr.affiliations, pr.primary, pr.schools
		p.NINHash = d.ninOf(id, a)
		p.HiddenIdentity = a.flags&flagHidden != 0
		p.Active = a.flags&flagActive != 0
	}
	for _, m := range a.groups {
		at := &d.attrs.vals[m.attrs]
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
	return p, a.flags&flagKnown != 0
}

// membershipOf is the Membership m of the catalogue's compact form. Callers hold a lock.
func (d *Directory) membershipOf(m membership) Membership {
	at := &d.attrs.vals[m.attrs]
	return Membership{Group: d.groups.str(m.group), GoType: at.goType, Role: at.role, ContactTeacher: at.contact, School: at.school}
}

// groupsOf returns the memberships of user (sorted by group id, not by name); nil when none.
// Callers hold a lock.
func (d *Directory) groupsOf(user string) []membership {
	if id, ok := d.account(user); ok {
		return d.accounts.at(id).groups
	}
	return nil
}

// GroupsOf returns user's current memberships, ordered by group id.
func (d *Directory) GroupsOf(user string) []Membership {
	d.mu.RLock()
	defer d.mu.RUnlock()
	gs := d.groupsOf(user)
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
func (d *Directory) IsMember(user, group string) (role string, ok bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	g, ok := d.groups.lookup(group)
	if !ok {
		return "", false
	}
	gs := d.groupsOf(user)
	if i, ok := find(gs, g); ok {
		return d.attrs.vals[gs[i].attrs].role, true
	}
	return "", false
}

// SharedGroups returns the groups both a and b are members of (in any role), ordered.
func (d *Directory) SharedGroups(a, b string) []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []string
	d.eachShared(a, b, func(ma, _ Membership) bool {
		out = append(out, ma.Group)
		return true
	})
	slices.Sort(out)
	return out
}

// Teaches reports whether teacher is faculty in a group where pupil is a student.
func (d *Directory) Teaches(teacher, pupil string) bool {
	return d.sharesGroupWhere(teacher, pupil, func(mt, mp Membership) bool {
		return mt.Role == RoleFaculty && mp.Role == RoleStudent
	})
}

// ContactTeacherOf reports whether teacher is the contact teacher of a basis group (class)
// where pupil is a student.
func (d *Directory) ContactTeacherOf(teacher, pupil string) bool {
	return d.sharesGroupWhere(teacher, pupil, func(mt, mp Membership) bool {
		return mt.Role == RoleFaculty && mt.ContactTeacher && mt.GoType == GoTypeBasis && mp.Role == RoleStudent
	})
}

// sharesGroupWhere reports whether a and b are members of a group where their memberships
// (a's, b's) satisfy ok.
func (d *Directory) sharesGroupWhere(a, b string, ok func(ma, mb Membership) bool) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	found := false
	d.eachShared(a, b, func(ma, mb Membership) bool {
		found = ok(ma, mb)
		return !found
	})
	return found
}

// eachShared calls fn with a's and b's memberships of each group they share, until fn returns
// false: a merge of the two sorted membership lists. Callers hold the read lock.
func (d *Directory) eachShared(a, b string, fn func(ma, mb Membership) bool) {
	if a == b {
		return
	}
	ga, gb := d.groupsOf(a), d.groupsOf(b)
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
func (d *Directory) GuardianStatus(guardian, child string) string {
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
	return statuses[d.relations[uint64(g)<<32|uint64(c)]]
}

// SameNIN returns the other accounts whose person carries user's (non-empty) NIN hash,
// ordered; nil when user has no NIN hash or no other account shares it.
func (d *Directory) SameNIN(user string) []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	id, ok := d.account(user)
	if !ok {
		return nil
	}
	a := d.accounts.at(id)
	nin := d.ninOf(id, a)
	if nin == "" {
		return nil
	}
	var out []string
	d.byNIN.each(d.hash(nin), func(o uint32) bool {
		if b := d.accounts.at(o); o != id && d.sameNIN(id, a, o, b) {
			out = append(out, b.user)
		}
		return true
	})
	slices.Sort(out)
	return out
}
