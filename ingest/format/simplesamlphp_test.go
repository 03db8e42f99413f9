package format_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"breachd/event"
	"breachd/ingest"
	"breachd/ingest/format"
)

func sspParser(t testing.TB) func([]byte) (event.Event, error) {
	return format.SimpleSAMLphp(format.SimpleSAMLphpOptions{
		Location:   oslo(t),
		Now:        func() time.Time { return refNow },
		IdPService: "https://idp.feide.no",
	})
}

func TestSimpleSAMLphpGolden(t *testing.T) {
	for _, name := range []string{"idp-syslog", "idp-file-handler", "idp-rsyslog-rfc3339"} {
		t.Run(name, func(t *testing.T) {
			golden(t, "simplesamlphp-"+name, "testdata/simplesamlphp/"+name+".log", sspParser(t))
		})
	}
}

func TestSimpleSAMLphpSSOLine(t *testing.T) {
	p := sspParser(t)
	line := "Nov  2 08:01:20 idp1 simplesamlphp[2214]: 5 STAT [a1b2c3d4e5] saml20-idp-SSO https://lms.example.no/saml https://idp.feide.no ola.nordmann@bergen.kommune.no"
	ev, err := p([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := event.Event{Kind: event.KindAuth, ID: ingest.ContentID("ssp", []byte(line)),
		Time: time.Date(2026, 11, 2, 7, 1, 20, 0, time.UTC), Org: "bergen.kommune.no",
		User: "ola.nordmann@bergen.kommune.no", Service: "https://lms.example.no/saml", Result: "success", Method: "sso"}
	if !ev.Time.Equal(want.Time) {
		t.Errorf("time = %v, want %v (08:01:20 in Oslo is 07:01:20 UTC in November)", ev.Time, want.Time)
	}
	ev.Time = want.Time
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("got  %+v\nwant %+v", ev, want)
	}
	// The same line with CRLF or LF gets the same id; another line another id.
	for _, end := range []string{"\n", "\r\n"} {
		ev2, err := p([]byte(line + end))
		if err != nil || ev2.ID != ev.ID {
			t.Errorf("line+%q: id %q, err %v; want id %q", end, ev2.ID, err, ev.ID)
		}
	}
	ev3, _ := p([]byte(strings.Replace(line, "08:01:20", "08:01:21", 1)))
	if ev3.ID == ev.ID {
		t.Error("a line one second later has the same id")
	}
}

func TestSimpleSAMLphpYear(t *testing.T) {
	loc := oslo(t)
	cases := []struct {
		name string
		now  time.Time
		line string
		want time.Time
	}{
		{"December line read in January is last year's", time.Date(2027, 1, 1, 0, 10, 0, 0, loc), "Dec 31 23:59:58", time.Date(2026, 12, 31, 23, 59, 58, 0, loc)},
		{"January line read on 31 December is next year's", time.Date(2026, 12, 31, 23, 0, 0, 0, loc), "Jan  1 00:00:05", time.Date(2027, 1, 1, 0, 0, 5, 0, loc)},
		{"a line from earlier this year", time.Date(2026, 11, 3, 12, 0, 0, 0, loc), "May  5 10:00:00", time.Date(2026, 5, 5, 10, 0, 0, 0, loc)},
		{"a line from the summer is CEST", time.Date(2026, 11, 3, 12, 0, 0, 0, loc), "Jul  1 12:00:00", time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)},
		{"29 February goes back to the last leap year", time.Date(2026, 3, 2, 0, 0, 0, 0, loc), "Feb 29 10:00:00", time.Date(2024, 2, 29, 10, 0, 0, 0, loc)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := format.SimpleSAMLphp(format.SimpleSAMLphpOptions{Location: loc, Now: func() time.Time { return c.now }})
			ev, err := p([]byte(c.line + " idp simplesamlphp[1]: 5 STAT [t] saml20-idp-SSO sp idp u@realm.no"))
			if err != nil {
				t.Fatal(err)
			}
			if !ev.Time.Equal(c.want) {
				t.Errorf("time = %v, want %v", ev.Time, c.want)
			}
		})
	}
}

func TestSimpleSAMLphpOptions(t *testing.T) {
	line := []byte("Nov  2 08:01:20 idp1 simplesamlphp[2214]: 5 STAT [a1] User 'ola' successfully authenticated from 193.157.1.20")
	// Without IdPService the credential line is skipped, not rejected.
	p := format.SimpleSAMLphp(format.SimpleSAMLphpOptions{Now: func() time.Time { return refNow }})
	if _, err := p(line); !errors.Is(err, format.ErrSkip) {
		t.Errorf("without IdPService: err = %v, want ErrSkip", err)
	}
	// With it, a user without realm needs Org.
	p = format.SimpleSAMLphp(format.SimpleSAMLphpOptions{Now: func() time.Time { return refNow }, IdPService: "idp"})
	var ie *event.InvalidError
	if _, err := p(line); !errors.As(err, &ie) || ie.Field != "user" {
		t.Errorf("user without realm, no Org: err = %v, want invalid user", err)
	}
	p = format.SimpleSAMLphp(format.SimpleSAMLphpOptions{Now: func() time.Time { return refNow }, IdPService: "idp", Org: "bergen.kommune.no"})
	ev, err := p(line)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Org != "bergen.kommune.no" || ev.User != "ola" || ev.IP != "193.157.1.20" || ev.Method != "password" || ev.Service != "idp" {
		t.Errorf("got %+v", ev)
	}
}
