package dlq_test

import (
	"strings"
	"testing"
	"time"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest/dlq"
)

// TestReplayLetters: a replay as people ask for it, of all the letters a filter selects (up to
// its limit) or of sequence numbers, through a pipeline it builds over the stream layout; the
// report's failure is the error; nothing runs for a request that names no letters, or both
// ways, or a letter that is not there.
func TestReplayLetters(t *testing.T) {
	s := bustest.Start(t)
	letters := samlLetters(t, s)
	rep, err := dlq.ReplayLetters(ctx(t), s.JS, dlq.ReplayRequest{All: true, Filter: dlq.Filter{Source: "file", Limit: 3},
		Options: dlq.ReplayOptions{Delete: true, Format: saml(t)}}, discard())
	if rep == nil || statuses(rep.Outcomes) != "accepted+deleted skipped rejected-again" || !rep.More ||
		rep.Totals != (dlq.Totals{Accepted: 1, Skipped: 1, Rejected: 1, Deleted: 1}) {
		t.Fatalf("replay --all: %+v, %v", rep, err)
	}
	if err == nil || err.Error() != rep.Err().Error() {
		t.Errorf("error of a replay that left a letter rejected again: %v", err)
	}
	if n := s.Count(t, bus.StreamEvents); n != 1 {
		t.Errorf("EVENTS holds %d events, want the one accepted", n)
	}

	rep, err = dlq.ReplayLetters(ctx(t), s.JS, dlq.ReplayRequest{Seqs: []uint64{letters[3].Seq},
		Options: dlq.ReplayOptions{DryRun: true, Format: saml(t)}}, discard())
	if rep == nil || !rep.DryRun || statuses(rep.Outcomes) != "rejected-again" || rep.Outcomes[0].Seq != letters[3].Seq || err == nil {
		t.Errorf("dry run of one letter: %+v, %v", rep, err)
	}

	for name, r := range map[string]dlq.ReplayRequest{
		"no letters":   {},
		"both ways":    {All: true, Seqs: []uint64{letters[1].Seq}},
		"not a letter": {Seqs: []uint64{letters[1].Seq, 999}},
	} {
		if rep, err := dlq.ReplayLetters(ctx(t), s.JS, r, discard()); rep != nil || err == nil || !strings.HasPrefix(err.Error(), "nothing replayed") {
			t.Errorf("%s: %+v, %v", name, rep, err)
		}
	}
	if n := s.Count(t, bus.StreamDLQ); n != 3 {
		t.Errorf("DEADLETTER holds %d letters, want the 3 not accepted", n)
	}
}

func TestFilterSpec(t *testing.T) {
	now := time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)
	f, err := dlq.FilterSpec{Source: "file", Since: "24h", Until: "2026-11-05", Reason: "kind", Limit: 5}.Filter(time.UTC, now)
	if err != nil || f.Source != "file" || f.ReasonContains != "kind" || f.Limit != 5 ||
		!f.Since.Equal(now.Add(-24*time.Hour)) || !f.Until.Equal(time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("filter: %+v, %v", f, err)
	}
	if f, err := (dlq.FilterSpec{Limit: 1}).Filter(time.UTC, now); err != nil || !f.Since.IsZero() || !f.Until.IsZero() {
		t.Errorf("unbounded: %+v, %v", f, err)
	}
	for spec, want := range map[dlq.FilterSpec]string{
		{Limit: 0}:                           "limit: want a positive number",
		{Since: "last tuesday", Limit: 1}:    `since: "last tuesday" is not a time`,
		{Since: "1h", Until: "2h", Limit: 1}: "until 2h is before since 1h",
	} {
		if _, err := spec.Filter(time.UTC, now); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", spec, err, want)
		}
	}
}
