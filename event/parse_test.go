package event

import (
	"errors"
	"testing"
	"time"
)

// The three example lines of events.md must parse exactly.
var contractExamples = []string{
	`{"kind":"auth","id":"idp-1-000001","time":"2026-11-02T08:01:13.120+01:00","org":"bergen.kommune.no","user":"ola.nordmann@bergen.kommune.no","service":"https://lms.example.no/saml","result":"success","method":"password","ip":"193.157.1.20","country":"NO"}`,
	`{"kind":"access","id":"lms-1-000042","time":"2026-11-02T08:03:50Z","org":"bergen.kommune.no","actor":"kari.lærer@bergen.kommune.no","actor_role":"teacher","action":"update","subject":"ola.nordmann@bergen.kommune.no","resource":"grades","service":"https://lms.example.no/saml","group":"fc:gogroup:bergen.kommune.no:u:NO974600951:8a-mat:2026-08-15:2027-06-20"}`,
	`{"kind":"directory","id":"sas-1-000007","time":"2026-11-01T22:00:00Z","org":"bergen.kommune.no","op":"guardianship","guardian":"idporten:hash:7f3a","child":"ola.nordmann@bergen.kommune.no","status":"blocked"}`,
}

func TestParseContractExamples(t *testing.T) {
	for _, line := range contractExamples {
		e, err := Parse([]byte(line))
		if err != nil {
			t.Fatalf("Parse(%s): %v", line, err)
		}
		if e.Time.Location() != time.UTC {
			t.Errorf("time not in UTC: %v", e.Time)
		}
		// A marshalled event parses back to the same event.
		b, err := Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(b)
		if err != nil {
			t.Fatalf("re-parse %s: %v", b, err)
		}
		if back.ID != e.ID || !back.Time.Equal(e.Time) || back.Account() != e.Account() {
			t.Errorf("round trip changed the event: %+v vs %+v", back, e)
		}
	}
	e, _ := Parse([]byte(contractExamples[0]))
	if want := time.Date(2026, 11, 2, 7, 1, 13, 120e6, time.UTC); !e.Time.Equal(want) {
		t.Errorf("time = %v, want %v", e.Time, want)
	}
	a, _ := Parse([]byte(contractExamples[1]))
	if a.Records != 1 {
		t.Errorf("records default = %d, want 1", a.Records)
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct {
		name, line, field string
	}{
		{"not json", `hello`, ""},
		{"truncated", `{"kind":"auth"`, ""},
		{"unknown kind", `{"kind":"login","id":"1","time":"2026-11-02T08:00:00Z","org":"o"}`, "kind"},
		{"missing id", `{"kind":"auth","time":"2026-11-02T08:00:00Z","org":"o","user":"u","service":"s","result":"success"}`, "id"},
		{"no offset", `{"kind":"auth","id":"1","time":"2026-11-02T08:00:00","org":"o","user":"u","service":"s","result":"success"}`, "time"},
		{"bad result", `{"kind":"auth","id":"1","time":"2026-11-02T08:00:00Z","org":"o","user":"u","service":"s","result":"ok"}`, "result"},
		{"records as string", `{"kind":"access","id":"1","time":"2026-11-02T08:00:00Z","org":"o","actor":"a","actor_role":"teacher","action":"view","subject":"s","resource":"grades","service":"x","records":"3"}`, "records"},
		{"missing subject", `{"kind":"access","id":"1","time":"2026-11-02T08:00:00Z","org":"o","actor":"a","actor_role":"teacher","action":"view","resource":"grades","service":"x"}`, "subject"},
		{"bool as string", `{"kind":"directory","id":"1","time":"2026-11-02T08:00:00Z","org":"o","op":"person","user":"u","hidden_identity":"yes"}`, "hidden_identity"},
		{"bad status", `{"kind":"directory","id":"1","time":"2026-11-02T08:00:00Z","org":"o","op":"guardianship","guardian":"g","child":"c","status":"gone"}`, "status"},
		{"unknown op", `{"kind":"directory","id":"1","time":"2026-11-02T08:00:00Z","org":"o","op":"school"}`, "op"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.line))
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *InvalidError", err)
			}
			if ie.Field != c.field {
				t.Errorf("field = %q, want %q (%v)", ie.Field, c.field, err)
			}
		})
	}
}
