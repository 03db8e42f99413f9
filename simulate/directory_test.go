package simulate

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"breachd/event"
)

var (
	groupPattern = regexp.MustCompile(`^fc:gogroup:([a-z0-9.]+):([ub]):(NO[0-9]{9}):([0-9]+[a-z])(-[a-z]+)?:2026-08-15:2027-06-20$`)
	eppnPattern  = regexp.MustCompile(`^[\p{Ll}-]+\.[\p{Ll}]+[0-9]*@[a-z0-9]+\.kommune\.no$`)
	ninPattern   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// validOrgNumber checks the MOD11 control digit of a Norwegian organisation number.
func validOrgNumber(s string) bool {
	if len(s) != 11 || !strings.HasPrefix(s, "NO") {
		return false
	}
	weights := []int{3, 2, 7, 6, 5, 4, 3, 2}
	sum := 0
	for i, w := range weights {
		sum += int(s[2+i]-'0') * w
	}
	return (11-sum%11)%11 == int(s[10]-'0')
}

func TestSnapshotConsistent(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"defaults", Defaults()},
		{"tiny", Config{Seed: 9, Orgs: 1, SchoolsPerOrg: 1, ClassesPerSchool: 1, PupilsPerClass: 3}},
		{"wide", Config{Seed: 5, Orgs: 3, SchoolsPerOrg: 3, ClassesPerSchool: 7, PupilsPerClass: 26}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			skipLargeInShort(t, c.cfg)
			checkSnapshot(t, generate(t, c.cfg))
		})
	}
}

func checkSnapshot(t *testing.T, w *world) {
	cfg := w.g.Config()
	nins := map[string][]string{}
	var hidden, twoSchools, nordic int
	for _, e := range w.evs[:w.snap] {
		if e.Op != event.OpPerson {
			continue
		}
		nins[e.NINHash] = append(nins[e.NINHash], e.User)
		if !ninPattern.MatchString(e.NINHash) || !e.IsActive() {
			t.Errorf("%s: nin_hash %q, active %v", e.User, e.NINHash, e.IsActive())
		}
		if e.HiddenIdentity {
			hidden++
		}
		if len(e.Schools) == 2 && e.PrimaryAffiliation == "faculty" {
			twoSchools++
		}
		if e.PrimaryAffiliation != "affiliate" && (!eppnPattern.MatchString(e.User) || !strings.HasSuffix(e.User, "@"+e.Org)) {
			t.Errorf("eduPersonPrincipalName %q in %s", e.User, e.Org)
		}
		if strings.ContainsAny(e.User, "æøå") {
			nordic++
		}
		for _, s := range e.Schools {
			if !validOrgNumber(s) {
				t.Errorf("%s: school %q is no organisation number", e.User, s)
			}
		}
	}
	if len(w.persons) == 0 || len(w.persons) != countOp(w.evs[:w.snap], event.OpPerson) {
		t.Fatal("person events repeat a user or are missing")
	}
	for nin, users := range nins {
		if len(users) > 1 && !slices.Equal(users, twin(w)) {
			t.Errorf("nin_hash %s shared by %v", nin, users)
		}
	}
	if hidden == 0 || nordic == 0 || (cfg.SchoolsPerOrg > 1 && twoSchools == 0) {
		t.Errorf("hidden identities %d, names with æøå %d, teachers in two schools %d", hidden, nordic, twoSchools)
	}

	contacts := map[string]int{}
	basis := map[string]int{} // pupil -> basis groups
	for _, e := range w.evs[:w.snap] {
		switch e.Op {
		case event.OpMembership:
			p, ok := w.persons[e.User]
			m := groupPattern.FindStringSubmatch(e.Group)
			if !ok || m == nil || m[1] != e.Org || m[2] != e.GoType || m[3] != e.School || e.Change != "add" {
				t.Fatalf("membership %+v: unknown user or malformed group", e)
			}
			if want := map[string]string{"student": "student", "faculty": "faculty"}[p.PrimaryAffiliation]; e.Role != want {
				t.Errorf("%s has role %s in %s", e.User, e.Role, e.Group)
			}
			if e.ContactTeacher {
				contacts[e.Group]++
			}
			if e.GoType == "b" && e.Role == "student" {
				basis[e.User]++
			}
		case event.OpGuardianship:
			g, gok := w.persons[e.Guardian]
			c, cok := w.persons[e.Child]
			if !gok || !cok || g.PrimaryAffiliation != "affiliate" || c.PrimaryAffiliation != "student" ||
				!strings.HasPrefix(e.Guardian, "idporten:hash:") || e.Status != "active" {
				t.Fatalf("guardianship %+v: unknown or wrong person", e)
			}
		}
	}
	for g, m := range w.members {
		if strings.Contains(g, ":b:") && contacts[g] != 1 {
			t.Errorf("basis group %s has %d contact teachers", g, contacts[g])
		}
		if !slices.Contains(mapValues(m), "faculty") {
			t.Errorf("group %s has no faculty", g)
		}
	}
	wantGroups := cfg.Orgs * cfg.SchoolsPerOrg * cfg.ClassesPerSchool * (1 + len(subjects))
	if len(w.members) != wantGroups {
		t.Errorf("%d groups, want %d", len(w.members), wantGroups)
	}
	two := 0
	for u, p := range w.persons {
		if p.PrimaryAffiliation != "student" {
			continue
		}
		if basis[u] != 1 || len(w.kin[u]) == 0 {
			t.Errorf("pupil %s in %d basis groups with %d guardians", u, basis[u], len(w.kin[u]))
		}
		if len(w.kin[u]) == 2 {
			two++
		}
	}
	if pupils := cfg.Orgs * cfg.SchoolsPerOrg * cfg.ClassesPerSchool * cfg.PupilsPerClass; pupils >= 50 && two*10 < pupils*7 {
		t.Errorf("%d of %d pupils have two guardians, want most", two, pupils)
	}
}

func countOp(evs []event.Event, op string) int {
	n := 0
	for _, e := range evs {
		if e.Op == op {
			n++
		}
	}
	return n
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// twin is the accounts of the teacher employed in two municipalities, if any.
func twin(w *world) []string {
	for _, ec := range w.g.EdgeCases() {
		if ec.Case == EdgeTwoMunicipalities {
			return append([]string{ec.Account}, ec.Accounts...)
		}
	}
	return nil
}
