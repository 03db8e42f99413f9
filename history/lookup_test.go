package history_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"breachd/event"
	"breachd/history"
	"breachd/rules"
)

// The store is what the detector gives the rules engine as its history.
var _ rules.Lookup = (*history.Store)(nil)

// lookupHistory stores logins and person records of two users around t0 (see the table tests).
func lookupHistory(t *testing.T) (*history.Store, time.Time) {
	t.Helper()
	s := openStore(t)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }
	login := func(id, user, service, result, country string, d time.Duration) string {
		return fmt.Sprintf(`{"kind":"auth","id":%q,"time":%q,"org":"o.no","user":%q,"service":%q,"result":%q,"country":%q}`,
			id, at(d), user, service, result, country)
	}
	person := func(id, org, user, nin string, hidden bool, d time.Duration) string {
		return fmt.Sprintf(`{"kind":"directory","id":%q,"time":%q,"org":%q,"op":"person","user":%q,"affiliations":["faculty","employee"],"nin_hash":%q,"hidden_identity":%t}`,
			id, at(d), org, user, nin, hidden)
	}
	day := 24 * time.Hour
	evs := parse(t,
		login("a1", "kari@o.no", "lms", "success", "NO", -100*day),
		login("a2", "kari@o.no", "lms", "success", "US", -40*day),
		login("a3", "kari@o.no", "sas", "success", "NO", -2*day),
		login("a4", "kari@o.no", "lms", "failure", "CN", -1*day),
		login("a5", "kari@o.no", "mail", "success", "SE", 0), // at t0 itself
		login("a6", "o'brien@o.no", "lms", "success", "IE", -3*day),
		person("d1", "o.no", "ola@o.no", "", true, -200*day),
		person("d2", "o.no", "ola@o.no", "h-1", true, -10*day),
		person("d3", "o.no", "ola@o.no", "h-2", true, 0), // at t0 itself
		person("d4", "other.no", "ola@o.no", "h-9", false, -1*day),
	)
	if err := s.WriteEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	return s, t0
}

func TestLastLogin(t *testing.T) {
	s, t0 := lookupHistory(t)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name                   string
		user, service, country string
		since, before          time.Time
		want                   time.Time // zero: none
	}{
		{"latest of any service and country, t0 excluded", "kari@o.no", "", "", t0.Add(-365 * day), t0, t0.Add(-2 * day)},
		{"the event's own time is included once it is past", "kari@o.no", "", "", t0.Add(-365 * day), t0.Add(time.Millisecond), t0},
		{"by country", "kari@o.no", "", "US", t0.Add(-90 * day), t0, t0.Add(-40 * day)},
		{"by country, outside the period", "kari@o.no", "", "US", t0.Add(-30 * day), t0, time.Time{}},
		{"since is inclusive", "kari@o.no", "", "US", t0.Add(-40 * day), t0, t0.Add(-40 * day)},
		{"failures do not count", "kari@o.no", "", "CN", t0.Add(-90 * day), t0, time.Time{}},
		{"by service", "kari@o.no", "lms", "", t0.Add(-365 * day), t0, t0.Add(-40 * day)},
		{"by service and country", "kari@o.no", "lms", "NO", t0.Add(-365 * day), t0, t0.Add(-100 * day)},
		{"unknown service", "kari@o.no", "payroll", "", t0.Add(-365 * day), t0, time.Time{}},
		{"a quote in the user is data, not SQL", "o'brien@o.no", "", "IE", t0.Add(-30 * day), t0, t0.Add(-3 * day)},
		{"unknown user", "per@o.no", "", "", t0.Add(-365 * day), t0, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.LastLogin(context.Background(), tc.user, tc.service, tc.country, tc.since, tc.before)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) || got.IsZero() != tc.want.IsZero() {
				t.Errorf("LastLogin = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLastPerson(t *testing.T) {
	s, t0 := lookupHistory(t)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name          string
		org, user     string
		since, before time.Time
		wantID        string // empty: none
		wantNIN       string
	}{
		{"the record before t0, not the one at t0", "o.no", "ola@o.no", t0.Add(-400 * day), t0, "d2", "h-1"},
		{"an older one when the period ends earlier", "o.no", "ola@o.no", t0.Add(-400 * day), t0.Add(-10 * day), "d1", ""},
		{"none in a period too short", "o.no", "ola@o.no", t0.Add(-5 * day), t0, "", ""},
		{"the other realm's record", "other.no", "ola@o.no", t0.Add(-5 * day), t0, "d4", "h-9"},
		{"unknown user", "o.no", "per@o.no", t0.Add(-400 * day), t0, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ok, err := s.LastPerson(context.Background(), tc.org, tc.user, tc.since, tc.before)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tc.wantID != "") || p.ID != tc.wantID || p.NINHash != tc.wantNIN {
				t.Fatalf("LastPerson = %+v, %v; want id %q nin %q", p, ok, tc.wantID, tc.wantNIN)
			}
			if ok && (p.Kind != event.KindDirectory || p.Op != event.OpPerson || p.HiddenIdentity != (tc.org == "o.no") ||
				p.Active == nil || !*p.Active || len(p.Affiliations) != 2 || p.Org != tc.org) {
				t.Errorf("record fields: %+v", p)
			}
		})
	}
}

// A lookup honours its context: the engine's per-call timeout ends it with an error.
func TestLookupHonoursContext(t *testing.T) {
	s, t0 := lookupHistory(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if _, err := s.LastLogin(ctx, "kari@o.no", "", "", t0.Add(-time.Hour), t0); err == nil {
		t.Error("LastLogin with an expired context: err = nil")
	}
	if _, _, err := s.LastPerson(ctx, "o.no", "ola@o.no", t0.Add(-time.Hour), t0); err == nil {
		t.Error("LastPerson with an expired context: err = nil")
	}
}
