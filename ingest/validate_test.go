package ingest_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
	"breachd/ingest"
	"breachd/ingest/format"
)

// ingestNow is the injected ingest clock of these tests.
var ingestNow = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func authAt(id, user, tm string) string {
	return `{"kind":"auth","id":"` + id + `","time":"` + tm + `","org":"bergen.kommune.no","user":"` + user + `","service":"lms","result":"success"}`
}

// Issue 10, items 7 and 8: records that used to be stored with a mangled identifier or time
// go to the dead-letter stream, through every parser, with a reason naming the field; old
// events (a backfill) and events a little ahead of the clock are still taken.
func TestSubmitRejectsBadIdentifiersAndTimes(t *testing.T) {
	ssp := format.SimpleSAMLphp(format.SimpleSAMLphpOptions{Location: time.UTC, Now: func() time.Time { return ingestNow }, IdPService: "https://idp.feide.no"})
	sspLine := func(user string) string {
		return "Dec  4 08:01:20 idp1 simplesamlphp[2214]: 5 STAT [a1b2c3d4e5] saml20-idp-SSO https://lms.example.no/saml https://idp.feide.no " + user
	}
	cases := []struct {
		name   string
		parser ingest.Parser // nil: the default, canonical JSON
		line   string
		field  string // "" : accepted
		reason string
	}{
		{"invalid UTF-8 in user", nil, authAt("b-1", "sander.j\xf8rgensen@bergen.kommune.no", "2026-11-02T08:00:00Z"), "user", "U+FFFD"},
		{"escaped U+FFFD in user", nil, authAt("b-2", `sander.j\uFFFDrgensen@bergen.kommune.no`, "2026-11-02T08:00:00Z"), "user", "U+FFFD"},
		{"escaped NUL in user", nil, authAt("b-3", `ola\u0000@bergen.kommune.no`, "2026-11-02T08:00:00Z"), "user", "U+0000"},
		{"NUL through ingest.Canonical", ingest.Canonical(), authAt("b-4", `ola\u0000@bergen.kommune.no`, "2026-11-02T08:00:00Z"), "user", "U+0000"},
		{"invalid UTF-8 through SimpleSAMLphp", ssp, sspLine("sander.j\xf8rgensen@bergen.kommune.no"), "user", "not valid UTF-8"},
		{"year 2999", nil, authAt("b-5", "ola@bergen.kommune.no", "2999-01-01T00:00:00Z"), "time", "outside the range"},
		{"year 2999 through ingest.Canonical", ingest.Canonical(), authAt("b-6", "ola@bergen.kommune.no", "2999-01-01T00:00:00Z"), "time", "outside the range"},
		{"25 h ahead of the clock", nil, authAt("b-7", "ola@bergen.kommune.no", "2026-12-05T13:00:00Z"), "time", "ahead of the ingest clock"},
		{"25 h ahead through ingest.Canonical", ingest.Canonical(), authAt("b-8", "ola@bergen.kommune.no", "2026-12-05T13:00:00+00:00"), "time", "ahead of the ingest clock"},
		{"23 h ahead of the clock", nil, authAt("a-1", "ola@bergen.kommune.no", "2026-12-05T11:00:00Z"), "", ""},
		{"a backfill from 1990", nil, authAt("a-2", "ola@bergen.kommune.no", "1990-06-01T08:00:00+02:00"), "", ""},
		{"valid SimpleSAMLphp", ssp, sspLine("ola@bergen.kommune.no"), "", ""},
	}
	s := bustest.Start(t)
	base, _ := newPipeline(t, s)
	base = base.WithFutureLimit(func() time.Time { return ingestNow }, event.DefaultMaxFutureSkew)
	ctx := testCtx(t)
	wantAccepted := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := base
			dlqBefore := s.Count(t, bus.StreamDLQ)
			res, err := p.Submit(ctx, ingest.Batch{Source: "test", Format: c.parser, Records: []ingest.Record{{Data: []byte(c.line), Where: c.name}}})
			if err != nil {
				t.Fatal(err)
			}
			checkErr := p.Check(c.parser, []byte(c.line))
			if c.field == "" {
				wantAccepted++
				if res.Accepted != 1 || checkErr != nil {
					t.Fatalf("Result %+v, Check %v; want it accepted", res, checkErr)
				}
				return
			}
			if res.Rejected != 1 || s.Count(t, bus.StreamDLQ) != dlqBefore+1 {
				t.Fatalf("Result %+v; want it dead-lettered", res)
			}
			dead := s.Messages(t, bus.StreamDLQ)
			m := dead[len(dead)-1]
			reason := m.Header.Get(bus.HeaderReason)
			if !strings.Contains(reason, "invalid event: "+c.field+": ") || !strings.Contains(reason, c.reason) {
				t.Errorf("reason %q, want field %s and %q", reason, c.field, c.reason)
			}
			if !bytes.Equal(m.Data, []byte(c.line)) {
				t.Errorf("dead letter holds %q, want the original bytes", m.Data)
			}
			if checkErr == nil || checkErr.Error() != reason {
				t.Errorf("Check = %v, want the dead letter's reason %q", checkErr, reason)
			}
			if len(res.Refusals) != 1 || res.Refusals[0].Reason != reason {
				t.Errorf("refusals %+v, want the dead letter's reason %q", res.Refusals, reason)
			}
		})
	}
	events := s.Messages(t, bus.StreamEvents)
	if len(events) != wantAccepted {
		t.Fatalf("EVENTS holds %d events, want %d", len(events), wantAccepted)
	}
	for _, m := range events {
		if bytes.ContainsRune(m.Data, '\uFFFD') || bytes.Contains(m.Data, []byte(`\u0000`)) || bytes.Contains(m.Data, []byte("2999")) {
			t.Errorf("stored event %s", m.Data)
		}
	}
}

// The future limit is configurable, and off with 0.
func TestSubmitFutureLimitConfigurable(t *testing.T) {
	s := bustest.Start(t)
	p, _ := newPipeline(t, s)
	ctx := testCtx(t)
	clock := func() time.Time { return ingestNow }
	twoHours := authAt("f-1", "ola@bergen.kommune.no", "2026-12-04T14:00:00Z")
	for _, c := range []struct {
		skew     time.Duration
		accepted int
	}{{time.Hour, 0}, {3 * time.Hour, 1}, {0, 1}} {
		res, err := p.WithFutureLimit(clock, c.skew).Submit(ctx, ingest.Batch{Source: "test", Records: []ingest.Record{{Data: []byte(twoHours)}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != c.accepted {
			t.Errorf("skew %s: %+v, want %d accepted", c.skew, res, c.accepted)
		}
	}
}

// Issue 10, item 5 at ingest: spellings of one account are stored as one, on one partition,
// whichever parser read them.
func TestSubmitNormalisesAccounts(t *testing.T) {
	s := bustest.Start(t)
	p, _ := newPipeline(t, s)
	ctx := testCtx(t)
	const want = "kåre.breakglass@bergen.kommune.no"
	spellings := []string{
		want,
		"Kåre.BreakGlass@Bergen.Kommune.no",
		"k\u0061\u030are.breakglass@bergen.kommune.no", // NFD
		"kåre.break\u200bglass@bergen.kommune.no",      // zero-width space
		`\ufeffkåre.breakglass\u2060@bergen.kommune.no `,
	}
	var recs []ingest.Record
	for i, u := range spellings {
		recs = append(recs, ingest.Record{Data: []byte(authAt("n-"+string(rune('a'+i)), u, "2026-11-02T08:00:00Z"))})
	}
	for _, f := range []ingest.Format{nil, ingest.Canonical()} {
		if res, err := p.Submit(ctx, ingest.Batch{Source: "test", Format: f, Records: recs}); err != nil || res.Accepted != len(recs) {
			t.Fatalf("Submit: %+v, %v", res, err)
		}
	}
	events := s.Messages(t, bus.StreamEvents)
	if len(events) != len(spellings) {
		t.Fatalf("EVENTS holds %d, want %d (the second submit is a replay)", len(events), len(spellings))
	}
	for _, m := range events {
		e, err := event.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if e.User != want || m.Subject != events[0].Subject {
			t.Errorf("stored user %+q on %s, want %+q on %s", e.User, m.Subject, want, events[0].Subject)
		}
	}
}

// One canonical parser: a batch without a format, a nil Parser or MultiParser, Canonical and
// format.Lookup("canonical") read a record alike, deriving the id of an event without one.
func TestOneCanonicalParser(t *testing.T) {
	lookedUp, err := format.Lookup("canonical")
	if err != nil {
		t.Fatal(err)
	}
	s := bustest.Start(t)
	p, _ := newPipeline(t, s)
	ctx := testCtx(t)
	noID := `{"kind":"auth","time":"2026-11-02T08:01:13+01:00","org":"o.no","user":"Kari@O.no","service":"https://lms","result":"success"}`
	want := event.Event{Kind: event.KindAuth, Time: time.Date(2026, 11, 2, 7, 1, 13, 0, time.UTC), Org: "o.no", User: "kari@o.no",
		Service: "https://lms", Result: "success"}
	wantID := ingest.EventID("c", &want)
	for i, f := range []ingest.Format{nil, ingest.Parser(nil), ingest.MultiParser(nil), ingest.Canonical(), lookedUp} {
		res, err := p.Submit(ctx, ingest.Batch{Source: "test", Format: f, Records: []ingest.Record{{Data: []byte(noID)}}})
		if err != nil || res.Accepted != 1 || res.Duplicates != min(i, 1) {
			t.Fatalf("format %d (%T): %+v, %v; want the same event accepted (a duplicate after the first)", i, f, res, err)
		}
		if err := p.Check(f, []byte(`{"kind":"auth"}`)); err == nil {
			t.Errorf("format %d (%T) accepts an incomplete event", i, f)
		}
	}
	msgs := s.Messages(t, bus.StreamEvents)
	if len(msgs) != 1 || msgs[0].Header.Get(bus.HeaderMsgID) != wantID {
		t.Fatalf("EVENTS holds %d events, want one with id %s", len(msgs), wantID)
	}
}
