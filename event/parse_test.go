package event

import (
	"bytes"
	"encoding/json"
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
		// Found by FuzzParse: valid RFC 3339, but not in UTC, where Marshal could not write it.
		{"year before 0000 in UTC", `{"kind":"auth","id":"1","time":"0000-01-01T00:30:00+01:00","org":"o","user":"u","service":"s","result":"success"}`, "time"},
		{"year after 9999 in UTC", `{"kind":"auth","id":"1","time":"9999-12-31T23:30:00-01:00","org":"o","user":"u","service":"s","result":"success"}`, "time"},
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

// FuzzParse feeds Parse arbitrary bytes. The seed corpus (the events.md examples, other valid
// events, and invalid lines) and every crasher found so far live in testdata/fuzz/FuzzParse.
//
// Properties:
//   - Parse never panics, and every error is an *InvalidError with a reason, because the caller
//     dead-letters the record with exactly that reason.
//   - An accepted event has its time in UTC and Marshal can write it: ingest publishes
//     Marshal's output, so a Marshal error for an accepted event would fail the whole batch
//     and stop the source at that line forever, instead of dead-lettering it.
//   - The canonical form round-trips. "Equal" means: same ID, Kind, Time (same instant, UTC),
//     and Account(), and Marshal of the re-parsed event is byte-identical to the first Marshal.
//     It cannot mean reflect.DeepEqual of the events: Marshal omits zero fields, so an empty
//     array (affiliations: []) comes back nil, and "records": 0 on an access event is absent
//     and defaults to 1. Parse already applies that default, so the canonical bytes must be a
//     fixed point: parse(marshal(e)) marshals to the same bytes.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("Parse(%q) error %T %v, want *InvalidError", data, err, err)
			}
			if ie.Reason == "" {
				t.Fatalf("Parse(%q): InvalidError without a reason: %+v", data, ie)
			}
			return
		}
		if e.Time.Location() != time.UTC {
			t.Errorf("Parse(%q): time %v not in UTC", data, e.Time)
		}
		b, err := Marshal(&e)
		if err != nil {
			t.Fatalf("Parse(%q) accepted an event Marshal cannot write: %v", data, err)
		}
		back, err := Parse(b)
		if err != nil {
			t.Fatalf("canonical form of %q does not parse: %s: %v", data, b, err)
		}
		if back.ID != e.ID || back.Kind != e.Kind || !back.Time.Equal(e.Time) || back.Time.Location() != time.UTC ||
			back.Account() != e.Account() {
			t.Fatalf("round trip changed the event:\n in %+v\nout %+v", e, back)
		}
		b2, err := Marshal(&back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("canonical form is not stable:\n%s\n%s", b, b2)
		}
	})
}

// BenchmarkParse measures Parse (decode and Validate) of the contract's examples, and the same
// with encoding/json for the decoding (what Parse falls back to).
func BenchmarkParse(b *testing.B) {
	lines := make([][]byte, len(contractExamples))
	for i, l := range contractExamples {
		lines[i] = []byte(l)
	}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			if _, err := Parse(lines[i%len(lines)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			if _, err := Decode(lines[i%len(lines)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			var w wire
			if err := json.Unmarshal(lines[i%len(lines)], &w); err != nil {
				b.Fatal(err)
			}
			e := w.Event
			t, err := time.Parse(time.RFC3339Nano, *w.Time)
			if err != nil {
				b.Fatal(err)
			}
			e.Time = t.UTC()
			if err := e.Validate(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMarshal measures Marshal of the contract's examples, and encoding/json's.
func BenchmarkMarshal(b *testing.B) {
	evs := make([]Event, len(contractExamples))
	for i, l := range contractExamples {
		var err error
		if evs[i], err = Parse([]byte(l)); err != nil {
			b.Fatal(err)
		}
	}
	for _, m := range []struct {
		name string
		f    func(*Event) ([]byte, error)
	}{{"fast", Marshal}, {"encoding_json", func(e *Event) ([]byte, error) { return json.Marshal(e) }}} {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				if _, err := m.f(&evs[i%len(evs)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
