package directory

import (
	"testing"

	"breachd/event"
)

func TestHomeOrg(t *testing.T) {
	d := New()
	inOrg := func(user, org string) *event.Event {
		e := person(user)
		e.Org = org
		return e
	}
	apply(t, d,
		inOrg("kari@ex.no", "example.kommune.no"),
		inOrg("ola@bergen.kommune.no", "bergen.kommune.no"),
		// A membership alone is no person record.
		add("per@oslo.kommune.no", "g1", GoTypeBasis, RoleStudent),
		guardian("idporten:hash:7f3a", "ola@bergen.kommune.no", StatusActive),
	)
	for _, c := range []struct {
		account, org string
		ok           bool
	}{
		{"kari@ex.no", "example.kommune.no", true}, // its person record
		{"nils@ex.no", "example.kommune.no", true}, // unknown, realm known from kari
		{"ola@bergen.kommune.no", "bergen.kommune.no", true},
		{"per@oslo.kommune.no", "oslo.kommune.no", true}, // no person record: the realm
		{"a@b@fake.example", "fake.example", true},       // the last @ separates the realm
		{"idporten:hash:7f3a", "", false},                // no realm, no record
		{"trailing@", "", false},
	} {
		org, ok := d.HomeOrg(c.account)
		if org != c.org || ok != c.ok {
			t.Errorf("HomeOrg(%q) = %q, %v; want %q, %v", c.account, org, ok, c.org, c.ok)
		}
	}
	// A person's own record wins over the realm's mapping.
	apply(t, d, inOrg("moved@ex.no", "other.kommune.no"))
	if org, _ := d.HomeOrg("kari@ex.no"); org != "example.kommune.no" {
		t.Errorf("kari's home moved to %q with another person's record", org)
	}
	if org, _ := d.HomeOrg("moved@ex.no"); org != "other.kommune.no" {
		t.Errorf("HomeOrg(moved@ex.no) = %q", org)
	}
}
