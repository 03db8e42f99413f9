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
	a := d.accounts[user]
	if a == nil {
		return Person{User: user}, false
	}
	p = a.person
	p.StudentGroups = a.counts.student
	p.FacultyGroups = a.counts.faculty
	p.BasisStudentGroups = a.counts.basisStudent
	p.ContactTeacherGroups = a.counts.contact
	return p, a.known
}

// GroupsOf returns user's current memberships, ordered by group id.
func (d *Directory) GroupsOf(user string) []Membership {
	d.mu.RLock()
	defer d.mu.RUnlock()
	a := d.accounts[user]
	if a == nil || len(a.groups) == 0 {
		return nil
	}
	out := make([]Membership, 0, len(a.groups))
	for _, m := range a.groups {
		out = append(out, m)
	}
	slices.SortFunc(out, func(x, y Membership) int { return strings.Compare(x.Group, y.Group) })
	return out
}

// IsMember reports whether user is a member of group, and in which role.
func (d *Directory) IsMember(user, group string) (role string, ok bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if a := d.accounts[user]; a != nil {
		if m, ok := a.groups[group]; ok {
			return m.Role, true
		}
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
// false. It walks the smaller of the two membership sets. Callers hold the read lock.
func (d *Directory) eachShared(a, b string, fn func(ma, mb Membership) bool) {
	if a == b {
		return
	}
	aa, ab := d.accounts[a], d.accounts[b]
	if aa == nil || ab == nil {
		return
	}
	if len(aa.groups) <= len(ab.groups) {
		for g, ma := range aa.groups {
			if mb, ok := ab.groups[g]; ok && !fn(ma, mb) {
				return
			}
		}
		return
	}
	for g, mb := range ab.groups {
		if ma, ok := aa.groups[g]; ok && !fn(ma, mb) {
			return
		}
	}
}

// GuardianStatus returns the status of the guardian–child relation: "" when there is none,
// else active, removed or blocked.
func (d *Directory) GuardianStatus(guardian, child string) string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.guardians[guardian][child]
}

// SameNIN returns the other accounts whose person carries user's (non-empty) NIN hash,
// ordered; nil when user has no NIN hash or no other account shares it.
func (d *Directory) SameNIN(user string) []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	a := d.accounts[user]
	if a == nil || a.person.NINHash == "" {
		return nil
	}
	set := d.nins[a.person.NINHash]
	if len(set) < 2 {
		return nil
	}
	out := make([]string, 0, len(set)-1)
	for u := range set {
		if u != user {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}
