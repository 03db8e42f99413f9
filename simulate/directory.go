package simulate

import (
	"slices"

	"breachd/event"
)

// Shares of the population, in percent or one-in-N.
const (
	siblingPercent     = 18  // pupils who share guardians with an earlier pupil of the school
	twoGuardianPercent = 85  // pupils (without an older sibling) with two guardians
	hiddenOneIn        = 150 // pupils with protected identity; their guardians share it
)

// buildPupils fills class ci with pupils and gives each one or two guardians, or the
// guardians of an older sibling at the same school.
func (b *builder) buildPupils(o, s, ci int32) {
	og := &b.pop.orgs[o]
	first := og.schools[s].pupils0
	for range b.cfg.PupilsPerClass {
		sib := int32(-1)
		if n := int32(len(og.pupils)) - first; n > 0 && b.rng.IntN(100) < siblingPercent {
			sib = og.pupils[first+b.rng.Int32N(n)]
		}
		fam := uint8(b.rng.IntN(len(familyNames)))
		if sib >= 0 {
			fam = b.family[sib]
		}
		p := b.newNamed(o, rolePupil, s, givenNames[b.rng.IntN(len(givenNames))], fam)
		b.pop.accounts[p].class = ci
		b.pop.accounts[p].hidden = b.rng.IntN(hiddenOneIn) == 0
		og.classes[ci].pupils = append(og.classes[ci].pupils, p)
		og.pupils = append(og.pupils, p)
		if sib >= 0 {
			sa := &b.pop.accounts[sib]
			pa := &b.pop.accounts[p]
			pa.hidden = pa.hidden || sa.hidden
			pa.homeIP = sa.homeIP
			pa.kin = slices.Clone(sa.kin)
			for _, gd := range pa.kin {
				b.pop.accounts[gd].kin = append(b.pop.accounts[gd].kin, p)
			}
			continue
		}
		n := 1
		if b.rng.IntN(100) < twoGuardianPercent {
			n = 2
		}
		for i := range n {
			gfam := fam
			if i == 1 && b.rng.IntN(100) < 40 {
				gfam = uint8(b.rng.IntN(len(familyNames)))
			}
			gd := b.newNamed(o, roleGuardian, -1, givenNames[b.rng.IntN(len(givenNames))], gfam)
			ga, pa := &b.pop.accounts[gd], &b.pop.accounts[p]
			ga.hidden = pa.hidden
			if i == 0 || b.rng.IntN(100) < 70 {
				ga.homeIP = pa.homeIP // same household
			}
			ga.kin = append(ga.kin, p)
			pa.kin = append(pa.kin, gd)
			og.guardian = append(og.guardian, gd)
		}
	}
}

// affiliations returns a fresh copy of the role's eduPersonAffiliation values and the primary.
func affiliations(r role) ([]string, string) {
	switch r {
	case rolePupil:
		return slices.Clone(affPupil), "student"
	case roleTeacher:
		return slices.Clone(affTeacher), "faculty"
	case roleGuardian:
		return slices.Clone(affGuardian), "affiliate"
	}
	return slices.Clone(affStaff), "staff"
}

// personEvent is the directory upsert of account a (without id, org and time).
func (p *population) personEvent(a int32) *event.Event {
	acc := &p.accounts[a]
	og := &p.orgs[acc.org]
	active := true
	e := &event.Event{Kind: event.KindDirectory, Op: event.OpPerson, User: acc.id,
		NINHash: acc.nin, HiddenIdentity: acc.hidden, Active: &active}
	e.Affiliations, e.PrimaryAffiliation = affiliations(acc.role)
	schools := acc.schools
	if acc.role == roleGuardian {
		schools = nil
		for _, c := range acc.kin {
			if s := p.accounts[c].school; !slices.Contains(schools, s) {
				schools = append(schools, s)
			}
		}
	}
	for _, s := range schools {
		e.Schools = append(e.Schools, og.schools[s].orgnr)
	}
	return e
}

// membershipEvent is the directory event adding (or removing) account a to group g of org o.
func (p *population) membershipEvent(o, g, a int32, change string) *event.Event {
	og := &p.orgs[o]
	gr := &og.groups[g]
	e := &event.Event{Kind: event.KindDirectory, Op: event.OpMembership, User: p.accounts[a].id,
		Group: gr.id, GoType: gr.goType, Role: "faculty", School: og.schools[gr.school].orgnr, Change: change}
	if p.accounts[a].role == rolePupil && p.accounts[a].class == gr.class {
		e.Role = "student"
	}
	if gr.goType == "b" && len(gr.faculty) > 0 && gr.faculty[0] == a {
		e.ContactTeacher = true
	}
	return e
}

// snapshot emits the full directory of every org, all dated at ms: persons first, then
// memberships group by group (faculty, then pupils), then guardian–child relations.
func (r *runner) snapshot(ms int64) error {
	p := r.g.pop
	for o := range p.orgs {
		og := &p.orgs[o]
		for a := og.first; a < og.end; a++ {
			if err := r.send(int32(o), srcSAS, ms, p.personEvent(a)); err != nil {
				return err
			}
		}
		for g := range og.groups {
			gr := &og.groups[g]
			members := append(slices.Clip(gr.faculty), og.classes[gr.class].pupils...)
			for _, a := range members {
				if err := r.send(int32(o), srcSAS, ms, p.membershipEvent(int32(o), int32(g), a, "add")); err != nil {
					return err
				}
			}
		}
		for _, c := range og.pupils {
			for _, gd := range p.accounts[c].kin {
				e := &event.Event{Kind: event.KindDirectory, Op: event.OpGuardianship,
					Guardian: p.accounts[gd].id, Child: p.accounts[c].id, Status: "active"}
				if err := r.send(int32(o), srcSAS, ms, e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
