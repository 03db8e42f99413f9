package dlq_test

import (
	"strings"
	"testing"
	"time"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest"
	"breachd/ingest/dlq"
	"breachd/ingest/format"
)

// samlLetters dead-letters the three lines of a SimpleSAMLphp log that was ingested as if it
// were canonical JSON (the wrong --format), and one line that is bad in any format.
func samlLetters(t *testing.T, s *bustest.Server) []dlq.Letter {
	t.Helper()
	lines := readLines(t, "../format/testdata/simplesamlphp/idp-rsyslog-rfc3339.log")
	recs := make([]ingest.Record, 0, len(lines)+1)
	for i, l := range lines {
		recs = append(recs, rec("idp-rsyslog-rfc3339.log:"+string(rune('1'+i)), l))
	}
	recs = append(recs, rec("idp-rsyslog-rfc3339.log:4", "garbage"))
	res, err := pipeline(t, s).Submit(ctx(t), ingest.Batch{Source: "file", Records: recs})
	if err != nil || res.Rejected != 4 {
		t.Fatalf("submit as canonical: %+v, %v", res, err)
	}
	letters, err := dlq.List(ctx(t), s.JS, dlq.Filter{})
	if err != nil || len(letters) != 4 {
		t.Fatalf("List: %d letters, %v", len(letters), err)
	}
	return letters
}

func saml(t *testing.T) ingest.Parser {
	p, err := format.Lookup("simplesamlphp")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func statuses(outs []dlq.Outcome) string {
	var b []string
	for _, o := range outs {
		s := string(o.Status)
		if o.Deleted {
			s += "+deleted"
		}
		if o.NewCopy {
			s += "+new-copy"
		}
		b = append(b, s)
	}
	return strings.Join(b, " ")
}

// TestReplayWithTheRightParser is the repair a wrong --format calls for: the letters are
// replayed through the pipeline reading SimpleSAMLphp, the event lands on EVENTS, only the
// accepted letter is deleted, and the letter that is still bad is not stored a second time.
func TestReplayWithTheRightParser(t *testing.T) {
	s := bustest.Start(t)
	letters := samlLetters(t, s)
	parser := saml(t)
	sink := pipeline(t, s)

	outs, err := dlq.Replay(ctx(t), s.JS, sink, letters, dlq.ReplayOptions{Delete: true, Format: parser})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(outs); got != "accepted+deleted skipped rejected-again rejected-again" {
		t.Fatalf("outcomes: %s\n%+v", got, outs)
	}
	for i, o := range outs {
		if o.Seq != letters[i].Seq || o.Source != "file" || o.Where != letters[i].Where {
			t.Errorf("outcome %d does not name its letter: %+v", i, o)
		}
	}
	if !strings.Contains(outs[2].Reason, `"2026-13-02T08:07:01+01:00" is not an RFC 3339 time`) ||
		!strings.Contains(outs[3].Reason, "no syslog timestamp") {
		t.Errorf("reasons of the rejected: %q, %q", outs[2].Reason, outs[3].Reason)
	}
	if !strings.Contains(outs[1].Reason, "not an event") {
		t.Errorf("reason of the skipped: %q", outs[1].Reason)
	}
	if n := s.Count(t, bus.StreamEvents); n != 1 {
		t.Errorf("EVENTS holds %d events, want the one accepted", n)
	}
	evs := s.Messages(t, bus.StreamEvents)
	if !strings.Contains(string(evs[0].Data), "ola.nordmann@bergen.kommune.no") {
		t.Errorf("event: %s", evs[0].Data)
	}
	// Rejected again within the duplicate window: JetStream dropped the copies.
	left, err := dlq.List(ctx(t), s.JS, dlq.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 3 || left[0].Seq != letters[1].Seq || left[2].Seq != letters[3].Seq {
		t.Errorf("DEADLETTER after replay: %+v", left)
	}
	if tot := dlq.Tally(outs); tot != (dlq.Totals{Accepted: 1, Skipped: 1, Rejected: 2, Deleted: 1}) {
		t.Errorf("tally: %+v", tot)
	}

	// Replaying the accepted event again (e.g. from a copy) is a duplicate on EVENTS.
	outs, err = dlq.Replay(ctx(t), s.JS, sink, letters[:1], dlq.ReplayOptions{Format: parser})
	if err != nil || statuses(outs) != "accepted" || !outs[0].Duplicate {
		t.Errorf("second replay of the accepted letter: %+v, %v", outs, err)
	}
	if n := s.Count(t, bus.StreamEvents); n != 1 {
		t.Errorf("EVENTS holds %d events after a duplicate replay", n)
	}
}

// TestReplayKeepsWithoutDelete: without Delete nothing leaves DEADLETTER; with the original
// (canonical) parser everything is rejected again and nothing is added.
func TestReplayKeepsWithoutDelete(t *testing.T) {
	s := bustest.Start(t)
	letters := samlLetters(t, s)
	outs, err := dlq.Replay(ctx(t), s.JS, pipeline(t, s), letters, dlq.ReplayOptions{})
	if err != nil || statuses(outs) != "rejected-again rejected-again rejected-again rejected-again" {
		t.Fatalf("canonical replay: %s, %v", statuses(outs), err)
	}
	if !strings.Contains(outs[0].Reason, "not a JSON object") {
		t.Errorf("reason: %q", outs[0].Reason)
	}
	outs, err = dlq.Replay(ctx(t), s.JS, pipeline(t, s), letters, dlq.ReplayOptions{Format: saml(t)})
	if err != nil || statuses(outs) != "accepted skipped rejected-again rejected-again" {
		t.Fatalf("replay without delete: %s, %v", statuses(outs), err)
	}
	if n := s.Count(t, bus.StreamDLQ); n != 4 {
		t.Errorf("DEADLETTER holds %d letters, want all 4 kept", n)
	}
}

func TestReplayDryRun(t *testing.T) {
	s := bustest.Start(t)
	letters := samlLetters(t, s)
	outs, err := dlq.Replay(ctx(t), s.JS, pipeline(t, s), letters,
		dlq.ReplayOptions{DryRun: true, Delete: true, Format: saml(t)})
	if err != nil || statuses(outs) != "accepted skipped rejected-again rejected-again" {
		t.Fatalf("dry run: %s, %v", statuses(outs), err)
	}
	if e, d := s.Count(t, bus.StreamEvents), s.Count(t, bus.StreamDLQ); e != 0 || d != 4 {
		t.Errorf("dry run changed the streams: %d events, %d letters", e, d)
	}
}

// TestReplayAfterTheDuplicateWindow: a still-bad letter older than the stream's duplicate window
// is stored again as a new letter, and the outcome says so.
func TestReplayAfterTheDuplicateWindow(t *testing.T) {
	s := bustest.StartServer(t)
	const window = 300 * time.Millisecond
	if err := bus.Ensure(ctx(t), s.JS, bus.Config{DuplicateWindow: window}); err != nil {
		t.Fatal(err)
	}
	letters := samlLetters(t, s)[3:] // "garbage"
	outs, err := dlq.Replay(ctx(t), s.JS, pipeline(t, s), letters, dlq.ReplayOptions{})
	if err != nil || statuses(outs) != "rejected-again" || s.Count(t, bus.StreamDLQ) != 4 {
		t.Fatalf("within the window: %s, %v, %d letters", statuses(outs), err, s.Count(t, bus.StreamDLQ))
	}
	time.Sleep(3 * window) // let the server forget the message id
	outs, err = dlq.Replay(ctx(t), s.JS, pipeline(t, s), letters, dlq.ReplayOptions{})
	if err != nil || statuses(outs) != "rejected-again+new-copy" || s.Count(t, bus.StreamDLQ) != 5 {
		t.Fatalf("after the window: %s, %v, %d letters", statuses(outs), err, s.Count(t, bus.StreamDLQ))
	}
}

// An event dead-lettered for being timed too far ahead of the clock is reported as such by a
// dry run (the pipeline's own reason, which the parser cannot know), and goes through once
// the clock has caught up with it.
func TestReplayFutureEvent(t *testing.T) {
	s := bustest.Start(t)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	line := `{"kind":"auth","id":"late-1","time":"2026-12-06T08:00:00Z","org":"o","user":"ola@o","service":"s","result":"success"}`
	early := pipeline(t, s).WithFutureLimit(func() time.Time { return now }, 24*time.Hour)
	if res, err := early.Submit(ctx(t), ingest.Batch{Source: "file", Records: []ingest.Record{rec("late.jsonl:1", line)}}); err != nil || res.Rejected != 1 {
		t.Fatalf("submit: %+v, %v", res, err)
	}
	letters, err := dlq.List(ctx(t), s.JS, dlq.Filter{})
	if err != nil || len(letters) != 1 || !strings.Contains(letters[0].Reason, "ahead of the ingest clock") {
		t.Fatalf("letters %+v, %v", letters, err)
	}
	outs, err := dlq.Replay(ctx(t), s.JS, early, letters, dlq.ReplayOptions{DryRun: true})
	if err != nil || len(outs) != 1 || outs[0].Status != dlq.Rejected || !strings.Contains(outs[0].Reason, "ahead of the ingest clock") {
		t.Fatalf("dry run: %+v, %v; want rejected again with the pipeline's reason", outs, err)
	}
	later := early.WithFutureLimit(func() time.Time { return now.Add(24 * time.Hour) }, 24*time.Hour)
	outs, err = dlq.Replay(ctx(t), s.JS, later, letters, dlq.ReplayOptions{Delete: true})
	if err != nil || statuses(outs) != "accepted+deleted" {
		t.Fatalf("replay a day later: %+v, %v", outs, err)
	}
}
