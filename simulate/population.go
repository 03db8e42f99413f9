package simulate

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// role is what an account is in the simulated world (not the role of one access).
type role uint8

const (
	rolePupil role = iota
	roleTeacher
	rolePrincipal
	roleOffice // school office: admin staff of the school administrative system
	roleSupport
	roleGuardian
)

// account is one identity: a Feide account, or a guardian's ID-porten identity. All indices
// are int32 into population.accounts or into the org's schools, classes and groups.
type account struct {
	id      string // eduPersonPrincipalName, or idporten:hash:<hex> for guardians
	role    role
	org     int32
	school  int32 // home school; -1 for support and guardians
	class   int32 // pupils: their class; teachers: the class they are contact teacher of, or -1
	nin     string
	hidden  bool
	quiet   bool    // left out of background activity because a scenario scripts it
	schools []int32 // schools served; a few teachers serve two
	groups  []int32 // teachers: every group they are faculty in
	teaches []int32 // teachers: the teaching groups (go_type u) they teach
	kin     []int32 // pupils: their guardians; guardians: their children
	homeIP  string
	homeUA  string
}

type org struct {
	realm    string
	schools  []school
	classes  []class
	groups   []group
	pupils   []int32
	teachers []int32
	staff    []int32 // principals and office staff
	guardian []int32
	support  int32
	first    int32 // the org's accounts are accounts[first:end]
	end      int32
}

type school struct {
	orgnr     string
	ip        string // the school network's NAT address
	upper     bool   // lower secondary (grades 8–10); else primary (1–7)
	classes   []int32
	teachers  []int32
	principal int32
	office    int32
	pupils0   int32 // index in org.pupils of the school's first pupil
}

type class struct {
	school   int32
	label    string // e.g. 8a
	grade    int32  // index of the grade team within the school
	basis    int32  // its basis group
	teaching []int32
	pupils   []int32
	contact  int32
}

type group struct {
	id      string
	goType  string // "b" or "u"
	school  int32
	class   int32
	faculty []int32 // u: faculty[0] teaches it; b: faculty[0] is the contact teacher
}

// population is the directory of the simulated world; it is read-only once built.
type population struct {
	accounts []account
	orgs     []org
	from, to string // school year, as in Feide GO group ids
}

// builder holds the state only needed while building a population.
type builder struct {
	rng    *rand.Rand
	cfg    Config
	pop    *population
	used   map[string]struct{} // ids and org numbers handed out
	family []uint8             // per account: index into familyNames
	twin   int32               // org 0's teacher who also works in org 1, or -1
}

func buildPopulation(cfg Config, rng *rand.Rand) *population {
	y := cfg.Start.Year()
	if cfg.Start.Month() < 8 {
		y--
	}
	b := &builder{rng: rng, cfg: cfg, used: map[string]struct{}{}, twin: -1, pop: &population{
		from: strconv.Itoa(y) + "-08-15", to: strconv.Itoa(y+1) + "-06-20",
	}}
	for o := range cfg.Orgs {
		b.buildOrg(int32(o))
	}
	return b.pop
}

// realmOf is the Feide realm of org o.
func realmOf(o int) string {
	realm := realmNames[o%len(realmNames)]
	if n := o / len(realmNames); n > 0 {
		realm += strconv.Itoa(n + 1)
	}
	return realm + ".kommune.no"
}

// Realms are the Feide realms of the organisations cfg simulates, in order.
func (c Config) Realms() []string {
	c = c.withDefaults()
	out := make([]string, c.Orgs)
	for o := range out {
		out[o] = realmOf(o)
	}
	return out
}

func (b *builder) buildOrg(o int32) {
	b.pop.orgs = append(b.pop.orgs, org{realm: realmOf(int(o)), first: int32(len(b.pop.accounts))})
	for s := range b.cfg.SchoolsPerOrg {
		b.buildSchool(o, int32(s))
	}
	og := &b.pop.orgs[o]
	b.ensureHidden(og)
	og.support = b.newAccount(o, roleSupport, -1)
	// The support desk works from the municipality's office network.
	b.pop.accounts[og.support].homeIP = "193.157." + strconv.Itoa(int(o)%250+1) + ".5"
	b.pop.accounts[og.support].homeUA = uaWindows
	og.end = int32(len(b.pop.accounts))
}

func (b *builder) buildSchool(o, s int32) {
	og := &b.pop.orgs[o]
	sc := school{orgnr: b.orgNumber(), upper: s%2 == 1, pupils0: int32(len(og.pupils))}
	sc.ip = "158.36." + strconv.Itoa(int(o*7+s)%250+1) + "." + strconv.Itoa(20+int(s)%200)
	first := 1
	if sc.upper {
		first = 8
	}
	nc := b.cfg.ClassesPerSchool
	sections, ngrades := classLayout(nc, sc.upper)
	og.schools = append(og.schools, sc)

	// Grade teams: the contact teachers of the grade's classes plus one more teacher.
	teams := make([][]int32, ngrades)
	base := int32(len(og.classes))
	for c := range nc {
		g := c / sections
		t := b.newTeacher(o, s)
		teams[g] = append(teams[g], t)
		label := strconv.Itoa(first+g) + string(rune('a'+c%sections))
		og.classes = append(og.classes, class{school: s, label: label, grade: int32(g), contact: t})
		b.pop.accounts[t].class = base + int32(c)
	}
	for g := range teams {
		teams[g] = append(teams[g], b.newTeacher(o, s))
	}
	kro := b.specialistKro(o, s)
	kuh := b.specialistKuh(o, s)

	for c := range nc {
		ci := base + int32(c)
		cl := &og.classes[ci]
		team := teams[c/sections]
		cl.basis = b.newGroup(o, s, ci, "b", "", cl.contact, team[len(team)-1])
		for k, subj := range subjects {
			t := kro
			switch {
			case k < teamSubjects:
				t = team[(c%sections+k)%len(team)]
			case k == subjectKuh:
				t = kuh
			}
			g := b.newGroup(o, s, ci, "u", subj, t)
			og.classes[ci].teaching = append(og.classes[ci].teaching, g)
			b.pop.accounts[t].teaches = append(b.pop.accounts[t].teaches, g)
		}
		og.schools[s].classes = append(og.schools[s].classes, ci)
		b.buildPupils(o, s, ci)
	}
	og.schools[s].principal = b.newAccount(o, rolePrincipal, s)
	og.schools[s].office = b.newAccount(o, roleOffice, s)
	og.staff = append(og.staff, og.schools[s].principal, og.schools[s].office)
}

// ensureHidden gives every org at least one pupil (and their guardians) with protected
// identity, so that small or unlucky populations still have the case.
func (b *builder) ensureHidden(og *org) {
	for _, p := range og.pupils {
		if b.pop.accounts[p].hidden {
			return
		}
	}
	p := og.pupils[len(og.pupils)/2]
	b.pop.accounts[p].hidden = true
	for _, gd := range b.pop.accounts[p].kin {
		b.pop.accounts[gd].hidden = true
	}
}

// classLayout spreads n classes over the grades of a primary (1–7) or lower secondary (8–10)
// school: sections parallel classes (a, b, ...) per grade, two from four classes up.
func classLayout(n int, upper bool) (sections, grades int) {
	levels := 7
	if upper {
		levels = 3
	}
	sections = max(1, (n+levels-1)/levels)
	if n >= 4 {
		sections = max(sections, 2)
	}
	return sections, (n + sections - 1) / sections
}

// specialistKro is the school's physical-education teacher; at org 1's first school it is
// the org 0 teacher who is employed in both municipalities (same person, same NIN).
func (b *builder) specialistKro(o, s int32) int32 {
	if o == 1 && s == 0 && b.twin >= 0 {
		tw := b.pop.accounts[b.twin]
		given, _, _ := strings.Cut(tw.id, ".")
		t := b.newTeacher(o, s)
		a := &b.pop.accounts[t]
		a.nin, a.homeIP, a.homeUA = tw.nin, tw.homeIP, tw.homeUA
		a.id = b.eppn(given, familyNames[b.family[b.twin]], b.pop.orgs[o].realm)
		b.family[t] = b.family[b.twin]
		return t
	}
	t := b.newTeacher(o, s)
	if o == 0 && s == 0 {
		b.twin = t
	}
	return t
}

// specialistKuh is the arts-and-crafts teacher; every odd school shares the previous school's.
func (b *builder) specialistKuh(o, s int32) int32 {
	og := &b.pop.orgs[o]
	if s%2 == 1 {
		prev := og.schools[s-1].teachers
		t := prev[len(prev)-1]
		b.pop.accounts[t].schools = append(b.pop.accounts[t].schools, s)
		og.schools[s].teachers = append(og.schools[s].teachers, t)
		return t
	}
	return b.newTeacher(o, s)
}

func (b *builder) newTeacher(o, s int32) int32 {
	t := b.newAccount(o, roleTeacher, s)
	og := &b.pop.orgs[o]
	og.teachers = append(og.teachers, t)
	og.schools[s].teachers = append(og.schools[s].teachers, t)
	return t
}

// newGroup adds a group with its faculty (students are the class's pupils).
func (b *builder) newGroup(o, s, c int32, goType, subj string, faculty ...int32) int32 {
	og := &b.pop.orgs[o]
	name := og.classes[c].label
	if subj != "" {
		name += "-" + subj
	}
	id := "fc:gogroup:" + og.realm + ":" + goType + ":" + og.schools[s].orgnr + ":" + name + ":" + b.pop.from + ":" + b.pop.to
	g := int32(len(og.groups))
	og.groups = append(og.groups, group{id: id, goType: goType, school: s, class: c, faculty: faculty})
	for _, t := range faculty {
		b.pop.accounts[t].groups = append(b.pop.accounts[t].groups, g)
	}
	return g
}

// newAccount adds a person of the given role with a fresh name, eppn, NIN hash and home.
func (b *builder) newAccount(o int32, r role, s int32) int32 {
	fam := uint8(b.rng.IntN(len(familyNames)))
	return b.newNamed(o, r, s, givenNames[b.rng.IntN(len(givenNames))], fam)
}

func (b *builder) newNamed(o int32, r role, s int32, given string, fam uint8) int32 {
	a := account{role: r, org: o, school: s, class: -1, nin: b.hex(4)}
	a.homeIP, a.homeUA = b.homeNet(), homeAgents[b.rng.IntN(len(homeAgents))]
	if s >= 0 {
		a.schools = []int32{s}
	}
	if r == roleGuardian {
		a.id = b.unique("idporten:hash:" + b.hex(1) + b.hex(1)[:4])
	} else {
		a.id = b.eppn(given, familyNames[fam], b.pop.orgs[o].realm)
	}
	b.pop.accounts = append(b.pop.accounts, a)
	b.family = append(b.family, fam)
	return int32(len(b.pop.accounts) - 1)
}

// eppn makes given.family@realm, lower-case, numbered when taken.
func (b *builder) eppn(given, family, realm string) string {
	base := strings.ToLower(given) + "." + strings.ToLower(family)
	return b.unique(base+"@"+realm, base, "@"+realm)
}

// unique returns id, or base+N+suffix for the lowest N ≥ 2 not yet used, and marks it used.
func (b *builder) unique(id string, baseSuffix ...string) string {
	for n := 2; ; n++ {
		if _, taken := b.used[id]; !taken {
			b.used[id] = struct{}{}
			return id
		}
		if len(baseSuffix) != 2 {
			id += "0"
			continue
		}
		id = baseSuffix[0] + strconv.Itoa(n) + baseSuffix[1]
	}
}

// hex returns 16·words random lower-case hex digits (keyed-hash look-alikes).
func (b *builder) hex(words int) string {
	const digits = "0123456789abcdef"
	buf := make([]byte, 0, 16*words)
	for range words {
		v := b.rng.Uint64()
		for i := 60; i >= 0; i -= 4 {
			buf = append(buf, digits[(v>>uint(i))&15])
		}
	}
	return string(buf)
}

// homeNet is a random address in a Norwegian consumer network.
func (b *builder) homeNet() string {
	n := homeNets[b.rng.IntN(len(homeNets))]
	buf := make([]byte, 0, 15)
	buf = strconv.AppendUint(buf, uint64(n[0]), 10)
	buf = append(buf, '.')
	buf = strconv.AppendUint(buf, uint64(n[1]), 10)
	buf = append(buf, '.')
	buf = strconv.AppendUint(buf, uint64(b.rng.IntN(256)), 10)
	buf = append(buf, '.')
	buf = strconv.AppendUint(buf, uint64(1+b.rng.IntN(254)), 10)
	return string(buf)
}

// orgNumber is a fresh Norwegian organisation number (MOD11 check digit), prefixed NO.
func (b *builder) orgNumber() string {
	weights := [8]int{3, 2, 7, 6, 5, 4, 3, 2}
	for {
		d := [9]int{8 + b.rng.IntN(2)}
		sum := d[0] * weights[0]
		for i := 1; i < 8; i++ {
			d[i] = b.rng.IntN(10)
			sum += d[i] * weights[i]
		}
		check := (11 - sum%11) % 11
		if check == 10 {
			continue
		}
		d[8] = check
		var buf [11]byte
		copy(buf[:], "NO")
		for i, v := range d {
			buf[2+i] = byte('0' + v)
		}
		if _, taken := b.used[string(buf[:])]; !taken {
			b.used[string(buf[:])] = struct{}{}
			return string(buf[:])
		}
	}
}
