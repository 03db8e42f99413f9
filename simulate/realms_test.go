package simulate

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestRealms: the realms of a configuration are those of the organisations it generates.
func TestRealms(t *testing.T) {
	if got := (Config{}).Realms(); !slices.Equal(got, []string{"bergen.kommune.no", "oslo.kommune.no"}) {
		t.Errorf("the default realms: %v", got)
	}
	cfg := Config{Orgs: len(realmNames) + 1, SchoolsPerOrg: 1, ClassesPerSchool: 1, PupilsPerClass: 1}
	realms := cfg.Realms()
	if len(realms) != cfg.Orgs || realms[len(realmNames)] != "bergen2.kommune.no" {
		t.Fatalf("realms %v", realms)
	}
	pop := buildPopulation(cfg.withDefaults(), rand.New(rand.NewPCG(1, 2)))
	for i, o := range pop.orgs {
		if o.realm != realms[i] {
			t.Errorf("org %d: realm %s, Realms says %s", i, o.realm, realms[i])
		}
	}
}

// TestLastSchoolDay: the weekday before the date in Oslo, skipping a weekend.
func TestLastSchoolDay(t *testing.T) {
	for now, want := range map[string]string{
		"2026-12-05T06:00:00Z": "2026-12-04", // Saturday → Friday
		"2026-12-07T06:00:00Z": "2026-12-04", // Monday → Friday
		"2026-12-08T23:30:00Z": "2026-12-08", // Wednesday 00:30 in Oslo → Tuesday
		"2026-12-09T12:00:00Z": "2026-12-08",
	} {
		at, _ := time.Parse(time.RFC3339, now)
		if got := LastSchoolDay(at); got.Format("2006-01-02") != want || got.Location().String() != "Europe/Oslo" {
			t.Errorf("LastSchoolDay(%s) = %s, want %s in Europe/Oslo", now, got, want)
		}
	}
}
