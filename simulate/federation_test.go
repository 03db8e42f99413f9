package simulate

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"breachd/event"
)

var fedGroupPattern = regexp.MustCompile(`^fc:gogroup:([a-z0-9.]+):([ub]):(NO[0-9]{9}):((vg)?[0-9]+[a-z][0-9]*)(-[a-z]+)?:2026-08-15:2027-06-20$`)

func TestFederationSnapshot(t *testing.T) {
	for _, persons := range []int{10, 2_000, 30_000} {
		f := Federation{Seed: 3, Persons: persons}
		var evs []*event.Event
		size, err := RunFederation(context.Background(), f, func(e *event.Event) error { evs = append(evs, e); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if size.Persons != persons || size.Pupils+size.Teachers+size.Others != persons || size.Events != int64(len(evs)) {
			t.Fatalf("persons %d: size %+v, %d events", persons, size, len(evs))
		}
		person := map[string]*event.Event{}
		groups := map[string]int{}
		contacts := map[string]int{}
		ids := map[string]bool{}
		var members, relations int64
		for _, e := range evs {
			if ids[e.ID] || e.Kind != event.KindDirectory || !e.Time.Equal(evs[0].Time) {
				t.Fatalf("event %s: duplicate id, kind %s or time %s", e.ID, e.Kind, e.Time)
			}
			ids[e.ID] = true
			if err := e.Validate(); err != nil {
				t.Fatalf("event %s: %v", e.ID, err)
			}
			switch e.Op {
			case event.OpPerson:
				if person[e.User] != nil || !ninPattern.MatchString(e.NINHash) || len(e.Schools) != 1 || !validOrgNumber(e.Schools[0]) {
					t.Fatalf("person %s: duplicate, nin %q or schools %v", e.User, e.NINHash, e.Schools)
				}
				person[e.User] = e
			case event.OpMembership:
				m := fedGroupPattern.FindStringSubmatch(e.Group)
				p := person[e.User]
				if m == nil || m[1] != e.Org || m[2] != e.GoType || m[3] != e.School || p == nil || p.Schools[0] != e.School {
					t.Fatalf("membership %s of %s in %s (school %s): group id or person wrong", e.ID, e.User, e.Group, e.School)
				}
				if want := map[string]string{"student": "student", "faculty": "faculty"}[p.PrimaryAffiliation]; e.Role != want {
					t.Fatalf("membership %s: role %s of a %s", e.ID, e.Role, p.PrimaryAffiliation)
				}
				groups[e.Group]++
				if e.ContactTeacher {
					contacts[e.Group]++
				}
				members++
			case event.OpGuardianship:
				if c := person[e.Child]; c == nil || c.PrimaryAffiliation != "student" || !strings.HasPrefix(e.Guardian, "idporten:hash:") || person[e.Guardian] != nil {
					t.Fatalf("guardianship %s: %s of %s", e.ID, e.Guardian, e.Child)
				}
				relations++
			}
		}
		if len(groups) != size.Groups || members != size.Memberships || relations != size.Guardianships {
			t.Fatalf("counted %d groups, %d memberships, %d relations; size %+v", len(groups), members, relations, size)
		}
		for g := range groups {
			if want := map[bool]int{true: 1, false: 0}[strings.Contains(g, ":b:")]; contacts[g] != want {
				t.Fatalf("group %s has %d contact teachers, want %d", g, contacts[g], want)
			}
		}
		if size.Pupils > 0 && (relations < int64(size.Pupils) || members < 9*int64(size.Pupils)) {
			t.Fatalf("persons %d: %d relations, %d memberships for %d pupils", persons, relations, members, size.Pupils)
		}
	}
}

func TestFederationDeterministic(t *testing.T) {
	write := func(seed int64) []byte {
		var buf bytes.Buffer
		if _, err := WriteFederation(context.Background(), Federation{Seed: seed, Persons: 3_000}, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b, c := write(1), write(1), write(2)
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave different output")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same output")
	}
}

func TestFederationSizes(t *testing.T) {
	orgs := FederationDefaults().plan()
	var munis, counties, schools, pupils int
	for _, o := range orgs {
		if o.upper {
			counties++
		} else {
			munis++
		}
		schools += len(o.schools)
		for _, n := range o.schools {
			pupils += n
		}
	}
	if munis != fedMunicipalities || counties != fedCounties || schools != fedPrimarySchools+fedUpperSchools ||
		pupils != fedPrimaryPupils+fedUpperPupils {
		t.Fatalf("Feide's size: %d municipalities, %d counties, %d schools, %d pupils", munis, counties, schools, pupils)
	}
	for _, p := range []int{minPersons - 1, MaxPersons + 1} {
		if err := (Federation{Persons: p}).Validate(); err == nil {
			t.Errorf("Persons %d: no error", p)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := RunFederation(ctx, Federation{Persons: 1000}, func(*event.Event) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
}
