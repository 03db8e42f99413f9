package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
	"breachd/ingest"
)

var discard = slog.New(slog.DiscardHandler)

func newPipeline(t *testing.T, s *bustest.Server) (*ingest.Pipeline, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	p, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(t), discard, reg)
	if err != nil {
		t.Fatal(err)
	}
	return p, reg
}

// subjectOf is the subject an event must be stored on with the default 8 partitions, computed
// here independently of package bus: FNV-1a 32 of the account, mod 8.
func subjectOf(e *event.Event) string {
	if e.Kind == event.KindDirectory {
		return "breachd.events.directory"
	}
	h := uint32(0x811c9dc5)
	for _, b := range []byte(e.Account()) {
		h = (h ^ uint32(b)) * 0x01000193
	}
	return fmt.Sprintf("breachd.events.%s.%d", e.Kind, h%8)
}

// counts is res without its refusals, for comparing the counts.
func counts(res ingest.Result) ingest.Result {
	res.Refusals = nil
	return res
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// validLines are canonical events of every kind; utcTime is each one's time as Marshal writes it.
var validLines = []struct{ line, utcTime string }{
	{`{"kind":"auth","id":"idp-1-000001","time":"2026-11-02T08:01:13.120+01:00","org":"bergen.kommune.no","user":"ola.nordmann@bergen.kommune.no","service":"https://lms.example.no/saml","result":"success","method":"password","ip":"193.157.1.20","country":"NO"}`,
		"2026-11-02T07:01:13.12Z"},
	{`{"kind":"access","id":"lms-1-000042","time":"2026-11-02T08:03:50Z","org":"bergen.kommune.no","actor":"kari.lærer@bergen.kommune.no","actor_role":"teacher","action":"update","subject":"ola.nordmann@bergen.kommune.no","resource":"grades","service":"https://lms.example.no/saml","group":"fc:gogroup:bergen.kommune.no:u:NO974600951:8a-mat:2026-08-15:2027-06-20"}`,
		"2026-11-02T08:03:50Z"},
	{`{"kind":"access","id":"lms-1-000043","time":"2026-11-02T10:00:00-02:30","org":"bergen.kommune.no","actor":"kari.lærer@bergen.kommune.no","actor_role":"teacher","action":"export","subject":"per@bergen.kommune.no","resource":"health","service":"lms","records":25,"extra":"ignored"}`,
		"2026-11-02T12:30:00Z"},
	{`{"kind":"directory","id":"sas-1-000007","time":"2026-11-01T22:00:00Z","org":"bergen.kommune.no","op":"guardianship","guardian":"idporten:hash:7f3a","child":"ola.nordmann@bergen.kommune.no","status":"blocked"}`,
		"2026-11-01T22:00:00Z"},
	{`{"kind":"directory","id":"sas-1-000008","time":"2026-11-02T00:30:00+01:00","org":"bergen.kommune.no","op":"person","user":"ola.nordmann@bergen.kommune.no","affiliations":["student","member"],"primary_affiliation":"student","schools":["NO974600951"],"hidden_identity":true,"active":false}`,
		"2026-11-01T23:30:00Z"},
}

// invalidLines are not canonical events; field is the field the reason must name ("" when the
// record as a whole is at fault).
var invalidLines = []struct{ name, line, field string }{
	{"not json", "  this is not json\t", ""},
	{"truncated", `{"kind":"auth","id":"x-0"`, ""},
	{"unknown kind", `{"kind":"login","id":"x-1","time":"2026-11-02T08:00:00Z","org":"bergen.kommune.no"}`, "kind"},
	{"missing field", `{"kind":"access","id":"x-2","time":"2026-11-02T08:00:00Z","org":"o","actor":"a@b","actor_role":"teacher","action":"view","resource":"grades","service":"s"}`, "subject"},
	{"bad time", `{"kind":"auth","id":"x-3","time":"yesterday","org":"o","user":"a@b","service":"s","result":"success"}`, "time"},
	// Before event.Parse rejected it, Marshal failed on this one and the whole batch with it.
	{"time out of range in UTC", `{"kind":"auth","id":"x-7","time":"9999-12-31T23:30:00-01:00","org":"o","user":"a@b","service":"s","result":"success"}`, "time"},
	{"time without offset", `{"kind":"auth","id":"x-4","time":"2026-11-02T08:00:00","org":"o","user":"a@b","service":"s","result":"success"}`, "time"},
	{"wrong type", `{"kind":"access","id":"x-5","time":"2026-11-02T08:00:00Z","org":"o","actor":"a@b","actor_role":"teacher","action":"view","subject":"s@b","resource":"grades","service":"s","records":"3"}`, "records"},
	{"wrong type bool", `{"kind":"directory","id":"x-6","time":"2026-11-02T08:00:00Z","org":"o","op":"person","user":"u@b","hidden_identity":"yes"}`, "hidden_identity"},
}

// mixedBatch interleaves valid and invalid records, each with its own location.
func mixedBatch() []ingest.Record {
	var recs []ingest.Record
	for i := range max(len(validLines), len(invalidLines)) {
		if i < len(validLines) {
			recs = append(recs, ingest.Record{Data: []byte(validLines[i].line), Where: "batch:" + string(rune('a'+i))})
		}
		if i < len(invalidLines) {
			recs = append(recs, ingest.Record{Data: []byte(invalidLines[i].line), Where: "batch:" + invalidLines[i].name})
		}
	}
	return recs
}

func TestSubmitMixedBatch(t *testing.T) {
	s := bustest.Start(t)
	p, reg := newPipeline(t, s)
	ctx := testCtx(t)

	res, err := p.Submit(ctx, ingest.Batch{Source: "test", Records: mixedBatch()})
	if err != nil {
		t.Fatal(err)
	}
	if want := (ingest.Result{Accepted: len(validLines), Rejected: len(invalidLines)}); !reflect.DeepEqual(counts(res), want) {
		t.Errorf("Result = %+v, want %+v", res, want)
	}
	batch := mixedBatch()
	if len(res.Refusals) != len(invalidLines) {
		t.Fatalf("%d refusals, want one per invalid record: %+v", len(res.Refusals), res.Refusals)
	}

	// Every valid event is on EVENTS under its kind (and its account's partition), keyed by its
	// id, in canonical form.
	events := s.Messages(t, bus.StreamEvents)
	if len(events) != len(validLines) {
		t.Fatalf("EVENTS holds %d messages, want %d", len(events), len(validLines))
	}
	for i, v := range validLines {
		want, err := event.Parse([]byte(v.line))
		if err != nil {
			t.Fatal(err)
		}
		m := events[i]
		if wantSubject := subjectOf(&want); m.Subject != wantSubject || m.Header.Get(bus.HeaderMsgID) != want.ID {
			t.Errorf("event %s stored on %s with id %q, want %s", want.ID, m.Subject, m.Header.Get(bus.HeaderMsgID), wantSubject)
		}
		got, err := event.Parse(m.Data)
		if err != nil {
			t.Errorf("stored event %s does not parse: %v", m.Data, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("stored event differs:\n got %+v\nwant %+v", got, want)
		}
		if !bytes.Contains(m.Data, []byte(`"time":"`+v.utcTime+`"`)) {
			t.Errorf("stored event %s: time not normalised to %s", m.Data, v.utcTime)
		}
	}

	// Every invalid record is on DEADLETTER with its source, reason, location and original bytes.
	dead := s.Messages(t, bus.StreamDLQ)
	if len(dead) != len(invalidLines) {
		t.Fatalf("DEADLETTER holds %d messages, want %d", len(dead), len(invalidLines))
	}
	for i, c := range invalidLines {
		m := dead[i]
		if m.Subject != "breachd.dlq.test" {
			t.Errorf("%s: subject %s", c.name, m.Subject)
		}
		if !bytes.Equal(m.Data, []byte(c.line)) {
			t.Errorf("%s: data %q, want the original bytes %q", c.name, m.Data, c.line)
		}
		reason := m.Header.Get(bus.HeaderReason)
		// The Result names the same record with the same reason (what HTTP clients are told).
		if r := res.Refusals[i]; r.Skipped || string(batch[r.Index].Data) != c.line || r.Reason != reason {
			t.Errorf("%s: refusal %+v, want record %q with reason %q", c.name, r, c.line, reason)
		}
		if c.field != "" && !strings.Contains(reason, "invalid event: "+c.field+": ") {
			t.Errorf("%s: reason %q does not name field %s", c.name, reason, c.field)
		}
		if c.field == "" && !strings.Contains(reason, "JSON") {
			t.Errorf("%s: reason %q does not say it is not JSON", c.name, reason)
		}
		if src, where := m.Header.Get(bus.HeaderSource), m.Header.Get("Breachd-Where"); src != "test" || where != "batch:"+c.name {
			t.Errorf("%s: source %q where %q", c.name, src, where)
		}
		if id := m.Header.Get(bus.HeaderMsgID); !strings.HasPrefix(id, "dlq-") {
			t.Errorf("%s: dead letter id %q", c.name, id)
		}
	}

	// A replay is idempotent: every event is a duplicate, nothing new is stored.
	res, err = p.Submit(ctx, ingest.Batch{Source: "test", Records: mixedBatch()})
	if err != nil {
		t.Fatal(err)
	}
	if want := (ingest.Result{Accepted: len(validLines), Rejected: len(invalidLines), Duplicates: len(validLines)}); !reflect.DeepEqual(counts(res), want) {
		t.Errorf("replay Result = %+v, want %+v", res, want)
	}
	if n, d := s.Count(t, bus.StreamEvents), s.Count(t, bus.StreamDLQ); n != uint64(len(validLines)) || d != uint64(len(invalidLines)) {
		t.Errorf("after replay EVENTS=%d DEADLETTER=%d, want %d and %d", n, d, len(validLines), len(invalidLines))
	}

	// The counters moved by the results of both calls (testutil would need a go.sum entry the
	// module does not have, so the registry is gathered directly).
	for name, want := range map[string]float64{
		"breach_ingest_events_accepted_total":  2 * float64(len(validLines)),
		"breach_ingest_events_rejected_total":  2 * float64(len(invalidLines)),
		"breach_ingest_events_duplicate_total": float64(len(validLines)),
		"breach_ingest_submit_failures_total":  0,
	} {
		if got := counter(t, reg, name, "test"); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// A source name becomes one subject token; the header keeps it as given.
func TestSubmitDeadLetterSubject(t *testing.T) {
	s := bustest.Start(t)
	p, _ := newPipeline(t, s)
	ctx := testCtx(t)
	cases := []struct{ source, token, header string }{
		{"file", "file", "file"},
		{"kafka.audit.v2", "kafka_audit_v2", "kafka.audit.v2"},
		{"my source", "my_source", "my source"},
		{"a*b>c", "a_b_c", "a*b>c"},
		// A header value cannot hold a line break: the client sends it as a space.
		{"tab\tnew\nline", "tab_new_line", "tab\tnew line"},
		{"bergen-ø", "bergen-__", "bergen-ø"},
		{"", "unknown", ""},
	}
	for i, c := range cases {
		res, err := p.Submit(ctx, ingest.Batch{Source: c.source, Records: []ingest.Record{{Data: []byte("not json"), Where: "x:1"}}})
		if err != nil {
			t.Fatalf("source %q: %v", c.source, err)
		}
		if res.Rejected != 1 {
			t.Fatalf("source %q: %+v", c.source, res)
		}
		dead := s.Messages(t, bus.StreamDLQ)
		if len(dead) != i+1 {
			t.Fatalf("source %q: DEADLETTER holds %d, want %d", c.source, len(dead), i+1)
		}
		m := dead[i]
		if want := "breachd.dlq." + c.token; m.Subject != want {
			t.Errorf("source %q: subject %q, want %q", c.source, m.Subject, want)
		}
		if got := m.Header.Get(bus.HeaderSource); got != c.header {
			t.Errorf("source %q: header %s = %q, want %q", c.source, bus.HeaderSource, got, c.header)
		}
	}
}

// Two identical bad lines at different places are two dead letters; replaying them adds none.
func TestSubmitIdenticalBadLines(t *testing.T) {
	s := bustest.Start(t)
	p, _ := newPipeline(t, s)
	ctx := testCtx(t)
	recs := []ingest.Record{{Data: []byte("oops"), Where: "a.jsonl:3"}, {Data: []byte("oops"), Where: "a.jsonl:9"}}
	for range 2 {
		if res, err := p.Submit(ctx, ingest.Batch{Source: "file", Records: recs}); err != nil || res.Rejected != 2 {
			t.Fatalf("submit: %+v %v", res, err)
		}
	}
	if n := len(s.Messages(t, bus.StreamDLQ)); n != 2 {
		t.Errorf("DEADLETTER holds %d, want 2", n)
	}
}

// Ids that differ only in what a NATS header cannot carry (CR, LF, surrounding spaces) are
// different events: each is stored once, and a replay stores none of them again.
func TestSubmitIDsHeadersCannotCarry(t *testing.T) {
	s := bustest.Start(t)
	p, _ := newPipeline(t, s)
	ctx := testCtx(t)
	ids := []string{"ev 1", " ev 1", "ev 1 ", "\tev 1", "ev\n1", "ev\r1", "ev\r\n1", "ev 1\n"}
	var recs []ingest.Record
	for _, id := range ids {
		q, _ := json.Marshal(id)
		recs = append(recs, ingest.Record{Data: []byte(`{"kind":"auth","id":` + string(q) +
			`,"time":"2026-11-02T08:00:00Z","org":"o","user":"u@o","service":"s","result":"success"}`)})
	}
	for round, wantDup := range []int{0, len(ids)} {
		res, err := p.Submit(ctx, ingest.Batch{Source: "test", Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		if want := (ingest.Result{Accepted: len(ids), Duplicates: wantDup}); !reflect.DeepEqual(counts(res), want) || res.Refusals != nil {
			t.Errorf("round %d: Result = %+v, want %+v", round+1, res, want)
		}
	}
	stored := map[string]bool{}
	for _, m := range s.Messages(t, bus.StreamEvents) {
		e, err := event.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		stored[e.ID] = true
	}
	for _, id := range ids {
		if !stored[id] {
			t.Errorf("event with id %q was not stored", id)
		}
	}
	if len(stored) != len(ids) {
		t.Errorf("stored %d events, want %d", len(stored), len(ids))
	}
}

func TestSubmitEmptyBatch(t *testing.T) {
	s := bustest.Start(t)
	p, _ := newPipeline(t, s)
	res, err := p.Submit(testCtx(t), ingest.Batch{Source: "test", Records: nil})
	if err != nil || !reflect.DeepEqual(counts(res), ingest.Result{}) || res.Refusals != nil {
		t.Errorf("Submit(nil) = %+v, %v", res, err)
	}
}

// With the server gone, or the connection closed, Submit fails (the source must not advance)
// within its context's deadline, and the failure is counted.
func TestSubmitFailures(t *testing.T) {
	cases := []struct {
		name    string
		breakIt func(s *bustest.Server)
	}{
		// The client reconnects forever: publishes are buffered and their acks fail with
		// "disconnected" or never come, so the deadline ends the wait.
		{"server shut down", func(s *bustest.Server) { s.Embedded.Shutdown() }},
		// Publishing itself fails, before any future exists.
		{"connection closed", func(s *bustest.Server) { s.NC.Close() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := bustest.Start(t)
			p, reg := newPipeline(t, s)
			if _, err := p.Submit(testCtx(t), ingest.Batch{Source: "test", Records: mixedBatch()[:2]}); err != nil {
				t.Fatal(err)
			}
			c.breakIt(s)

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := p.Submit(ctx, ingest.Batch{Source: "test", Records: mixedBatch()})
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Submit succeeded")
				}
				t.Logf("Submit: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("Submit did not return within 10s of a 3s deadline")
			}
			if got := counter(t, reg, "breach_ingest_submit_failures_total", ""); got != 1 {
				t.Errorf("failures = %v, want 1", got)
			}
			if got := counter(t, reg, "breach_ingest_events_accepted_total", "test"); got != 1 {
				t.Errorf("accepted = %v, want 1 (from the batch before the failure only)", got)
			}
		})
	}
}

// counter returns the value of the counter name (with label source, unless source is "") in
// reg; a counter that was never touched reads 0, a name that is not registered fails the test.
func counter(t *testing.T, reg *prometheus.Registry, name, source string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if source == "" && len(m.GetLabel()) == 0 {
				return m.GetCounter().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	// A CounterVec without children is not gathered at all: check that it is registered.
	if err := reg.Register(prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "probe"})); err == nil {
		t.Fatalf("metric %s is not registered", name)
	}
	return 0
}

// TestMultiParser: a record of several events publishes each; a record with one invalid event
// is dead-lettered whole (so replaying it stays idempotent); ErrSkip counts as skipped and
// publishes nothing.
func TestMultiParser(t *testing.T) {
	s := bustest.Start(t)
	pipe, _ := newPipeline(t, s)
	multi := ingest.MultiParser(func(data []byte) ([]event.Event, error) {
		var out []event.Event
		for _, part := range strings.Split(string(data), "|") {
			switch part {
			case "noise":
				return nil, fmt.Errorf("%w: debug line", ingest.ErrSkip)
			case "incomplete": // parsed, but not a valid event: the pipeline's validation finds it
				out = append(out, event.Event{Kind: event.KindAuth, ID: "x", Org: "o.no"})
				continue
			}
			ev, err := event.Parse([]byte(part))
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
		return out, nil
	})
	two := validLines[0].line + "|" + validLines[1].line
	bad := validLines[2].line + "|incomplete"
	res, err := pipe.Submit(testCtx(t), ingest.Batch{Source: "multi", Format: multi, Records: []ingest.Record{{Data: []byte(two)}, {Data: []byte(bad)}, {Data: []byte("noise")}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (ingest.Result{Accepted: 2, Rejected: 1, Skipped: 1}); !reflect.DeepEqual(counts(res), want) {
		t.Errorf("Result = %+v, want %+v", res, want)
	}
	if r := res.Refusals; len(r) != 2 || r[0].Index != 1 || r[0].Skipped || r[1].Index != 2 || !r[1].Skipped ||
		!strings.Contains(r[1].Reason, "debug line") {
		t.Errorf("refusals %+v, want record 1 dead-lettered and record 2 skipped", r)
	}
	if n := s.Count(t, bus.StreamEvents); n != 2 {
		t.Errorf("EVENTS holds %d, want 2", n)
	}
	dead := s.Messages(t, bus.StreamDLQ)
	if len(dead) != 1 || string(dead[0].Data) != bad {
		t.Fatalf("dead letters = %d, want the whole bad record", len(dead))
	}
	if r := dead[0].Header.Get(bus.HeaderReason); !strings.Contains(r, "event 1 of the record") {
		t.Errorf("reason %q does not name the bad event", r)
	}
}

// The source label is bounded: sources beyond the first MaxSourceLabels are counted under
// "other", so nothing a caller passes as a source can grow the series without bound.
func TestSourceLabelBounded(t *testing.T) {
	s := bustest.Start(t)
	p, reg := newPipeline(t, s)
	ctx := testCtx(t)
	bad := []ingest.Record{{Data: []byte("not an event"), Where: "x:1"}}
	for i := range ingest.MaxSourceLabels + 10 {
		if _, err := p.Submit(ctx, ingest.Batch{Source: fmt.Sprintf("src-%d", i), Records: bad}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Submit(ctx, ingest.Batch{Source: "src-0", Records: bad}); err != nil { // a known one keeps its label
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "breach_ingest_events_rejected_total" && len(f.GetMetric()) != ingest.MaxSourceLabels+1 {
			t.Errorf("%d series of %s, want %d and %q", len(f.GetMetric()), f.GetName(), ingest.MaxSourceLabels, ingest.OtherSource)
		}
	}
	if got := counter(t, reg, "breach_ingest_events_rejected_total", ingest.OtherSource); got != 10 {
		t.Errorf("other: %v, want 10", got)
	}
	if got := counter(t, reg, "breach_ingest_events_rejected_total", "src-0"); got != 2 {
		t.Errorf("src-0: %v, want 2", got)
	}
}
