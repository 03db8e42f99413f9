package format_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
	"breachd/ingest"
)

// TestPipelineSimpleSAMLphp runs the syslog sample through the real Pipeline into an embedded
// JetStream: every line the golden file maps to an event is on EVENTS with exactly that
// content and its id as Nats-Msg-Id; every rejected line is a dead letter carrying the
// parser's reason and the original bytes; skipped lines (debug noise) are counted, not
// dead-lettered; a replay of the file adds nothing.
func TestPipelineSimpleSAMLphp(t *testing.T) {
	s := bustest.Start(t)
	pipe, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(t), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const input = "testdata/simplesamlphp/idp-syslog.log"
	f, err := os.Open(input)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []ingest.Record
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		recs = append(recs, ingest.Record{Data: append([]byte(nil), sc.Bytes()...), Where: fmt.Sprintf("idp-syslog.log:%d", n)})
	}
	var wantEvents, wantDead []string // golden outcomes, in line order
	var deadLines []string
	skipped := 0
	for i, o := range golden(t, "simplesamlphp-idp-syslog", input, sspParser(t)) {
		switch {
		case strings.HasPrefix(o, "reject: "):
			wantDead = append(wantDead, strings.TrimPrefix(o, "reject: "))
			deadLines = append(deadLines, string(recs[i].Data))
		case strings.HasPrefix(o, "skip: "):
			skipped++
		default:
			wantEvents = append(wantEvents, o)
		}
	}

	res, err := pipe.Submit(ctx, ingest.Batch{Source: "feide-idp", Format: ingest.Parser(sspParser(t)), Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if skipped == 0 {
		t.Fatal("the sample has no skipped lines: the test would not see them")
	}
	if want := (ingest.Result{Accepted: len(wantEvents), Rejected: len(wantDead), Skipped: skipped}); res.Accepted != want.Accepted || res.Rejected != want.Rejected || res.Skipped != want.Skipped || res.Duplicates != 0 {
		t.Errorf("Result = %+v, want %+v", res, want)
	}
	events := s.Messages(t, bus.StreamEvents)
	if len(events) != len(wantEvents) {
		t.Fatalf("EVENTS holds %d messages, want %d", len(events), len(wantEvents))
	}
	for i, m := range events {
		if string(m.Data) != wantEvents[i] {
			t.Errorf("event %d:\n got  %s\n want %s", i, m.Data, wantEvents[i])
		}
		ev, err := event.Parse(m.Data)
		if err != nil {
			t.Fatalf("stored event does not parse: %v", err)
		}
		if m.Header.Get(bus.HeaderMsgID) != ev.ID {
			t.Errorf("event %s stored with Nats-Msg-Id %q", ev.ID, m.Header.Get(bus.HeaderMsgID))
		}
	}
	dead := s.Messages(t, bus.StreamDLQ)
	if len(dead) != len(wantDead) {
		t.Fatalf("DEADLETTER holds %d messages, want %d", len(dead), len(wantDead))
	}
	for i, m := range dead {
		if got := m.Header.Get(bus.HeaderReason); got != wantDead[i] {
			t.Errorf("dead letter %d reason:\n got  %q\n want %q", i, got, wantDead[i])
		}
		if string(m.Data) != deadLines[i] {
			t.Errorf("dead letter %d data = %q, want the original line %q", i, m.Data, deadLines[i])
		}
		if m.Header.Get(bus.HeaderSource) != "feide-idp" {
			t.Errorf("dead letter %d source = %q", i, m.Header.Get(bus.HeaderSource))
		}
	}

	// Replaying the file: the same ids, so JetStream stores nothing new.
	res, err = pipe.Submit(ctx, ingest.Batch{Source: "feide-idp", Format: ingest.Parser(sspParser(t)), Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicates != len(wantEvents) {
		t.Errorf("replay: %d duplicates, want %d", res.Duplicates, len(wantEvents))
	}
	if n := s.Count(t, bus.StreamEvents); n != uint64(len(wantEvents)) {
		t.Errorf("after replay EVENTS holds %d, want %d", n, len(wantEvents))
	}
}
