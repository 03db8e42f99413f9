package simulate

import (
	"context"
	"slices"
	"strconv"
	"time"

	"breachd/event"
)

// fedEmitter builds and emits one organisation of a federation.
type fedEmitter struct {
	ctx      context.Context
	emit     func(*event.Event) error
	b        *builder // the org's random stream and used ids
	orgnrs   map[string]struct{}
	og       fedOrg
	o        int32
	at       time.Time
	from, to string
	size     *FederationSize
	seq      uint64

	schools []string // org numbers
	persons []fedPerson
	classes []fedClass
}

type fedKind uint8

const (
	fedPupil fedKind = iota
	fedTeacher
	fedOther
)

type fedPerson struct {
	id, nin string
	kind    fedKind
	school  int32
	hidden  bool
	kin     []string // pupils: their guardians' ids
}

type fedClass struct {
	school   int32
	label    string
	pupils   []int32 // indices into persons
	contact  int32   // contact teacher; faculty of the basis group with second
	second   int32   // -1 when the school has one teacher
	teaching [8]int32
}

func (fe *fedEmitter) run() error {
	fe.build()
	for i := range fe.persons {
		if err := fe.send(fe.personEvent(&fe.persons[i])); err != nil {
			return err
		}
	}
	for ci := range fe.classes {
		if err := fe.classMemberships(&fe.classes[ci]); err != nil {
			return err
		}
	}
	for i := range fe.persons {
		p := &fe.persons[i]
		for _, gd := range p.kin {
			e := &event.Event{Kind: event.KindDirectory, Op: event.OpGuardianship, Guardian: gd, Child: p.id, Status: "active"}
			if err := fe.send(e); err != nil {
				return err
			}
			fe.size.Guardianships++
		}
	}
	return nil
}

// build lays out the org's schools, classes and persons: per school its classes and pupils
// (with guardians), then its teachers; the org's other staff last.
func (fe *fedEmitter) build() {
	b, og := fe.b, fe.og
	grades, classSize, first, prefix := 10, fedPrimaryClass, 1, ""
	if og.upper {
		grades, classSize, prefix = 3, fedUpperClass, "vg"
	}
	for s, pupils := range og.schools {
		orgnr := b.orgNumber()
		for _, taken := fe.orgnrs[orgnr]; taken; _, taken = fe.orgnrs[orgnr] {
			orgnr = b.orgNumber()
		}
		fe.orgnrs[orgnr] = struct{}{}
		fe.schools = append(fe.schools, orgnr)
		fe.size.Schools++
		nc := (pupils + classSize - 1) / classSize
		firstPupil := len(fe.persons)
		c0 := len(fe.classes)
		for c := range nc {
			grade, section := c%grades, c/grades
			label := prefix + strconv.Itoa(first+grade) + sectionLabel(section)
			cl := fedClass{school: int32(s), label: label}
			for range share(pupils, nc, c) {
				cl.pupils = append(cl.pupils, fe.pupil(int32(s), firstPupil, !og.upper || grade < 2))
			}
			fe.classes = append(fe.classes, cl)
		}
		t0 := int32(len(fe.persons))
		nt := int32(og.teach[s])
		for range nt {
			fe.newPerson(fedTeacher, int32(s))
		}
		for c := range fe.classes[c0:] {
			cl := &fe.classes[c0+c]
			ci := int32(c)
			cl.contact, cl.second = t0+ci%nt, -1
			if nt > 1 {
				cl.second = t0 + (ci+1)%nt
			}
			for k := range cl.teaching {
				cl.teaching[k] = t0 + (ci*int32(len(cl.teaching))+int32(k)+2)%nt
			}
		}
	}
	for i := range og.others {
		fe.newPerson(fedOther, int32(i%len(og.schools)))
	}
}

// sectionLabel is a, b, ..., z, then z2, z3, ... for the 27th parallel class on.
func sectionLabel(section int) string {
	if section < 26 {
		return string(rune('a' + section))
	}
	return "z" + strconv.Itoa(section-24)
}

// pupil adds a pupil of school s; with guardians, the school's pupils from index firstPupil
// are the siblings they may share guardians with.
func (fe *fedEmitter) pupil(s int32, firstPupil int, guardians bool) int32 {
	b := fe.b
	p := fe.newPerson(fedPupil, s)
	if !guardians {
		return p
	}
	pp := &fe.persons[p]
	if n := int(p) - firstPupil; n > 0 && b.rng.IntN(100) < siblingPercent {
		if sib := &fe.persons[firstPupil+b.rng.IntN(n)]; len(sib.kin) > 0 {
			pp.kin = slices.Clone(sib.kin)
			return p
		}
	}
	n := 1
	if b.rng.IntN(100) < twoGuardianPercent {
		n = 2
	}
	for range n {
		pp.kin = append(pp.kin, b.unique("idporten:hash:"+b.hex(1)+b.hex(1)[:4]))
	}
	return p
}

func (fe *fedEmitter) newPerson(k fedKind, s int32) int32 {
	b := fe.b
	given, family := givenNames[b.rng.IntN(len(givenNames))], familyNames[b.rng.IntN(len(familyNames))]
	p := fedPerson{id: b.eppn(given, family, fe.og.realm), nin: b.hex(4), kind: k, school: s, hidden: b.rng.IntN(hiddenOneIn) == 0}
	fe.persons = append(fe.persons, p)
	return int32(len(fe.persons) - 1)
}

func (fe *fedEmitter) personEvent(p *fedPerson) *event.Event {
	active := true
	e := &event.Event{Kind: event.KindDirectory, Op: event.OpPerson, User: p.id, NINHash: p.nin,
		HiddenIdentity: p.hidden, Active: &active, Schools: []string{fe.schools[p.school]}}
	fe.size.Persons++
	switch p.kind {
	case fedPupil:
		e.Affiliations, e.PrimaryAffiliation = affiliations(rolePupil)
		fe.size.Pupils++
	case fedTeacher:
		e.Affiliations, e.PrimaryAffiliation = affiliations(roleTeacher)
		fe.size.Teachers++
	default:
		e.Affiliations, e.PrimaryAffiliation = affiliations(roleOffice)
		fe.size.Others++
	}
	return e
}

// classMemberships emits the class's basis group and teaching groups, faculty first.
func (fe *fedEmitter) classMemberships(cl *fedClass) error {
	orgnr := fe.schools[cl.school]
	group := func(goType, name string) string {
		fe.size.Groups++
		return "fc:gogroup:" + fe.og.realm + ":" + goType + ":" + orgnr + ":" + name + ":" + fe.from + ":" + fe.to
	}
	add := func(g, goType string, p int32, role string, contact bool) error {
		fe.size.Memberships++
		return fe.send(&event.Event{Kind: event.KindDirectory, Op: event.OpMembership, User: fe.persons[p].id,
			Group: g, GoType: goType, Role: role, ContactTeacher: contact, School: orgnr, Change: "add"})
	}
	pupils := func(g, goType string) error {
		for _, p := range cl.pupils {
			if err := add(g, goType, p, "student", false); err != nil {
				return err
			}
		}
		return nil
	}
	basis := group("b", cl.label)
	if err := add(basis, "b", cl.contact, "faculty", true); err != nil {
		return err
	}
	if cl.second >= 0 {
		if err := add(basis, "b", cl.second, "faculty", false); err != nil {
			return err
		}
	}
	if err := pupils(basis, "b"); err != nil {
		return err
	}
	for k, t := range cl.teaching {
		g := group("u", cl.label+"-"+subjects[k])
		if err := add(g, "u", t, "faculty", false); err != nil {
			return err
		}
		if err := pupils(g, "u"); err != nil {
			return err
		}
	}
	return nil
}

// send stamps e with its id (sas-<org number from 1>-<sequence>), org and time.
func (fe *fedEmitter) send(e *event.Event) error {
	if fe.seq%ctxEvery == 0 {
		if err := fe.ctx.Err(); err != nil {
			return err
		}
	}
	fe.seq++
	fe.size.Events++
	e.ID = eventID(srcSAS, fe.o, fe.seq)
	e.Org = fe.og.realm
	e.Time = fe.at
	return fe.emit(e)
}
