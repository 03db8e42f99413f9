package simulate

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"breachd/event"
)

// Federation sizes a directory-only world of the size of Feide's school sector: a snapshot of
// persons, group memberships and guardian–child relations, and no activity. It serves the
// detector's memory and load-time measurements (a 1.3 M-person catalogue).
type Federation struct {
	// Seed selects the world: the same Federation gives byte-identical output.
	Seed int64
	// Persons is the number of person records (Feide accounts: pupils, teachers, other
	// staff). Default FeidePersons.
	Persons int
	// Start dates the snapshot: 22:00 local time the evening before Start's date. Default
	// Defaults().Start.
	Start time.Time
}

// Published magnitudes the federation is scaled from (per FeidePersons persons; a smaller
// Persons scales every figure down, keeping at least one organisation and school of each
// kind):
//
//   - pupils: ~636 000 in primary and lower secondary school (grunnskole) and ~190 000 in upper
//     secondary (videregående), Utdanningsdirektoratet, Grunnskolens informasjonssystem (GSI) and
//     "Elever i videregående skole", school year 2023–24;
//   - teachers: ~75 000 (SSB, "Lærarar" / Udir "Lærertetthet": 70–80 000 in the two levels);
//   - 356 municipalities (SSB, 2020–2023), which own the primary schools, and 15 counties
//     (fylkeskommuner, 2024), which own the upper secondary ones;
//   - ~2 800 primary and lower secondary schools (GSI) and ~420 upper secondary schools (Udir);
//   - classes of about 24 (grunnskole) and 28 (videregående) pupils.
//
// The rest of Feide's ~1.3 M persons are counted as other staff: school assistants, office and
// leaders, and the adult- and higher-education accounts Feide also holds; they have a person
// record and no groups.
const (
	FeidePersons = 1_300_000

	fedPrimaryPupils  = 636_000
	fedUpperPupils    = 190_000
	fedTeachers       = 75_000
	fedMunicipalities = 356
	fedCounties       = 15
	fedPrimarySchools = 2_800
	fedUpperSchools   = 420
	fedPrimaryClass   = 24
	fedUpperClass     = 28

	// MaxPersons bounds Federation.Persons: the generator holds one organisation at a time,
	// but the output (about 8 events and 2.5 kB of JSON per person) grows with it.
	MaxPersons = 10_000_000
	// minPersons is the smallest federation with a pupil, teacher and other staff member in
	// each of its two organisations.
	minPersons = 10
)

const streamFederation = 0x6665646572617465

// FederationDefaults is Feide's size with seed 1, dated as Defaults.
func FederationDefaults() Federation {
	return Federation{Seed: 1, Persons: FeidePersons, Start: Defaults().Start}
}

// Validate reports an out-of-range Persons (after defaulting).
func (f Federation) Validate() error {
	f = f.withDefaults()
	if f.Persons < minPersons || f.Persons > MaxPersons {
		return fmt.Errorf("simulate: Persons = %d, want %d..%d", f.Persons, minPersons, MaxPersons)
	}
	return nil
}

func (f Federation) withDefaults() Federation {
	d := FederationDefaults()
	if f.Persons == 0 {
		f.Persons = d.Persons
	}
	if f.Start.IsZero() {
		f.Start = d.Start
	}
	return f
}

// fedOrg is one organisation of the federation: its realm and the sizes of its schools.
type fedOrg struct {
	realm   string
	upper   bool  // a county owning upper secondary schools; else a municipality
	schools []int // pupils per school
	teach   []int // teachers per school
	others  int   // other staff
}

// plan lays the federation out: organisations, schools and their sizes. It is small (a few
// thousand numbers) and deterministic without randomness: sizes are spread evenly.
func (f Federation) plan() []fedOrg {
	scale := func(v int) int { return int(int64(v) * int64(f.Persons) / FeidePersons) }
	munis, counties := max(1, scale(fedMunicipalities)), max(1, scale(fedCounties))
	pupilsP, pupilsU := max(munis, scale(fedPrimaryPupils)), max(counties, scale(fedUpperPupils))
	schoolsP := min(pupilsP, max(munis, scale(fedPrimarySchools)))
	schoolsU := min(pupilsU, max(counties, scale(fedUpperSchools)))
	teachers := max(schoolsP+schoolsU, scale(fedTeachers))
	pupils := pupilsP + pupilsU
	orgs := make([]fedOrg, 0, munis+counties)
	for o := range munis {
		orgs = append(orgs, fedOrg{realm: realmOf(o), schools: make([]int, share(schoolsP, munis, o))})
	}
	for k := range counties {
		orgs = append(orgs, fedOrg{realm: countyRealm(k), upper: true, schools: make([]int, share(schoolsU, counties, k))})
	}
	// Pupils and teachers school by school, in proportion.
	spread := func(orgs []fedOrg, pupils, schools int) {
		s := 0
		for i := range orgs {
			for j := range orgs[i].schools {
				orgs[i].schools[j] = share(pupils, schools, s)
				s++
			}
		}
	}
	spread(orgs[:munis], pupilsP, schoolsP)
	spread(orgs[munis:], pupilsU, schoolsU)
	placed := 0
	for i := range orgs {
		orgs[i].teach = make([]int, len(orgs[i].schools))
		for j, n := range orgs[i].schools {
			orgs[i].teach[j] = max(1, n*teachers/pupils)
			placed += n + orgs[i].teach[j]
		}
	}
	rest := max(0, f.Persons-placed)
	for i := range orgs {
		orgs[i].others = share(rest, len(orgs), i)
	}
	return orgs
}

// share is part i of total split into n nearly equal parts (the first total%n get one more).
func share(total, n, i int) int {
	v := total / n
	if i < total%n {
		v++
	}
	return v
}

// countyNames are the counties (fylkeskommuner) that own upper secondary schools.
var countyNames = []string{
	"ostfold", "akershus", "buskerud", "innlandet", "vestfold", "telemark", "agder", "rogaland",
	"vestland", "mrfylke", "trondelag", "nordland", "troms", "finnmark", "oslo",
}

// countyRealm is the Feide realm of county k, numbered from the second round on.
func countyRealm(k int) string {
	realm := countyNames[k%len(countyNames)]
	if n := k / len(countyNames); n > 0 {
		realm += strconv.Itoa(n + 1)
	}
	return realm + ".fylkesskole.no"
}

// FederationSize is what a Federation's snapshot holds.
type FederationSize struct {
	Orgs, Schools, Groups                     int
	Persons, Pupils, Teachers, Others         int
	Memberships, Guardianships, Events, Bytes int64 // Bytes is set by WriteFederation only
}

// RunFederation emits the directory snapshot of f: organisation by organisation, its person
// records (pupils, teachers, other staff), then its memberships group by group (faculty, then
// pupils), then its guardian–child relations, all dated 22:00 the evening before f.Start.
//
// Every class has a basis group and eight teaching groups (ids as in doc.go); its contact
// teacher and a second teacher are faculty of the basis group, one teacher of each teaching
// group. Pupils of primary and lower secondary schools and of the first two upper secondary
// grades (under 18) have one or two guardians (85 % two) or share an earlier pupil's (18 %).
// Guardians are ID-porten identities: they appear in guardianships only, with no person record
// (they are not Feide accounts).
//
// It holds one organisation at a time (a few thousand accounts), so memory does not grow with
// Persons; emit receives a new event each call and may keep it. The same f gives the same
// events. It returns the first error of emit unchanged, or ctx.Err() once ctx is done.
func RunFederation(ctx context.Context, f Federation, emit func(*event.Event) error) (FederationSize, error) {
	var size FederationSize
	if err := f.Validate(); err != nil {
		return size, err
	}
	f = f.withDefaults()
	clk := newClock(f.Start, 1)
	at := clk.time(clk.at(0, -2*hour))
	y := f.Start.Year()
	if f.Start.Month() < 8 {
		y--
	}
	from, to := strconv.Itoa(y)+"-08-15", strconv.Itoa(y+1)+"-06-20"
	orgnrs := map[string]struct{}{}
	orgs := f.plan()
	size.Orgs = len(orgs)
	for o, og := range orgs {
		// ids are unique per realm, org numbers across the federation.
		b := &builder{rng: rand.New(rand.NewPCG(uint64(f.Seed), streamFederation+uint64(o))), used: map[string]struct{}{}}
		fe := &fedEmitter{ctx: ctx, emit: emit, b: b, orgnrs: orgnrs, og: og, o: int32(o), at: at, from: from, to: to, size: &size}
		if err := fe.run(); err != nil {
			return size, err
		}
	}
	return size, nil
}

// WriteFederation writes RunFederation's events to w as canonical JSON Lines through a buffer.
func WriteFederation(ctx context.Context, f Federation, w io.Writer) (FederationSize, error) {
	lw := newLineWriter(w)
	size, err := RunFederation(ctx, f, lw.write)
	size.Bytes = lw.bytes
	if err != nil {
		return size, err
	}
	return size, lw.flush()
}
