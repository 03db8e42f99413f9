package directory

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"breachd/event"
)

// model is the catalogue's meaning in plain maps: what the compact layout must keep answering.
type model struct {
	nin       map[string]string            // user -> NIN hash of its latest person event
	groups    map[string]map[string]string // user -> group -> role
	guardians map[[2]string]string         // (guardian, child) -> status
}

func (m *model) sameNIN(user string) []string {
	h := m.nin[user]
	if h == "" {
		return nil
	}
	var out []string
	for u, v := range m.nin {
		if v == h && u != user {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// TestAgainstModel applies a long random stream of person, membership and guardianship events
// (NIN hashes changing between hex and other forms, members coming and going, the indexes
// growing and shrinking) and checks every answer against the model after each event.
func TestAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	d := New()
	m := model{nin: map[string]string{}, groups: map[string]map[string]string{}, guardians: map[[2]string]string{}}
	users := make([]string, 300)
	for i := range users {
		users[i] = fmt.Sprintf("u%d@r%d.no", i, i%3)
	}
	nins := []string{"", "short", fmt.Sprintf("%064x", 1), fmt.Sprintf("%064x", 2), fmt.Sprintf("%064X", 3), fmt.Sprintf("%064x", 4)}
	groups := []string{"g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"}
	for i := range 20_000 {
		u, g := users[rng.IntN(len(users))], groups[rng.IntN(len(groups))]
		var e *event.Event
		switch rng.IntN(4) {
		case 0:
			e = withNIN(u, nins[rng.IntN(len(nins))])
			m.nin[u] = e.NINHash
		case 1:
			role := []string{RoleStudent, RoleFaculty}[rng.IntN(2)]
			e = add(u, g, "u", role)
			if m.groups[u] == nil {
				m.groups[u] = map[string]string{}
			}
			m.groups[u][g] = role
		case 2:
			e = remove(u, g)
			delete(m.groups[u], g)
		case 3:
			gd := fmt.Sprint("idporten:", rng.IntN(40))
			st := []string{StatusActive, StatusRemoved, StatusBlocked}[rng.IntN(3)]
			e = guardian(gd, u, st)
			m.guardians[[2]string{gd, u}] = st
		}
		apply(t, d, e)
		if i%97 != 0 {
			continue
		}
		for _, u := range users {
			if got, want := d.SameNIN(u), m.sameNIN(u); !slices.Equal(got, want) {
				t.Fatalf("event %d: SameNIN(%s) = %v, want %v", i, u, got, want)
			}
			for _, g := range groups {
				role, ok := d.IsMember(u, g)
				if want, wok := m.groups[u][g]; role != want || ok != wok {
					t.Fatalf("event %d: IsMember(%s, %s) = %q %v, want %q %v", i, u, g, role, ok, want, wok)
				}
			}
			if p, _ := d.Person(u); p.NINHash != m.nin[u] || p.StudentGroups+p.FacultyGroups != len(m.groups[u]) {
				t.Fatalf("event %d: Person(%s) = %+v, model nin %q groups %v", i, u, p, m.nin[u], m.groups[u])
			}
		}
		for k, st := range m.guardians {
			if got := d.GuardianStatus(k[0], k[1]); got != st {
				t.Fatalf("event %d: GuardianStatus(%s, %s) = %q, want %q", i, k[0], k[1], got, st)
			}
		}
	}
	members := 0
	for _, gs := range m.groups {
		members += len(gs)
	}
	if st := d.Stats(); st.Memberships != members || st.Guardianships != len(m.guardians) {
		t.Fatalf("Stats = %+v, model %d memberships, %d guardianships", st, members, len(m.guardians))
	}
}

// TestProfilesKeptApart: persons share a stored profile only when org, affiliations, primary
// affiliation and schools are all equal (no separator in a value makes two lists meet).
func TestProfilesKeptApart(t *testing.T) {
	d := New()
	a, b, c := person("a", "x\x00y"), person("b", "x", "y"), person("c")
	c.Affiliations = []string{}
	apply(t, d, a, b, c, person("n"))
	for _, tt := range []struct {
		user string
		want []string
	}{{"a", []string{"x\x00y"}}, {"b", []string{"x", "y"}}, {"c", []string{}}, {"n", nil}} {
		p, _ := d.Person(tt.user)
		if !slices.Equal(p.Affiliations, tt.want) || (p.Affiliations == nil) != (tt.want == nil) {
			t.Errorf("Person(%s).Affiliations = %#v, want %#v", tt.user, p.Affiliations, tt.want)
		}
	}
}
