package file_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
	"breachd/ingest"
	"breachd/ingest/file"
)

var discard = slog.New(slog.DiscardHandler)

// writeDay writes n lines of access events to dir/day.jsonl, with the lines at the positions
// of bad (1-based) replaced by invalid records.
func writeDay(t *testing.T, dir string, n int, bad map[int]string) string {
	t.Helper()
	var buf bytes.Buffer
	start := time.Date(2026, 11, 2, 7, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		if l, ok := bad[i]; ok {
			buf.WriteString(l + "\n")
			continue
		}
		e := event.Event{
			Kind: event.KindAccess, ID: fmt.Sprintf("lms-1-%06d", i), Time: start.Add(time.Duration(i) * time.Second),
			Org: "bergen.kommune.no", Actor: fmt.Sprintf("teacher%d@bergen.kommune.no", i%40), ActorRole: "teacher",
			Action: "view", Subject: fmt.Sprintf("pupil%d@bergen.kommune.no", i%700), Resource: "grades",
			Service: "https://lms.example.no/saml", Records: 1,
		}
		b, err := event.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteString("\r\n")
	}
	path := filepath.Join(dir, "day.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A file goes through the real Pipeline into JetStream: every valid line is one event, every
// bad line one dead letter at its line number, and reading the file again stores nothing new.
func TestFileThroughPipeline(t *testing.T) {
	s := bustest.Start(t)
	p, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(t), discard, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	bad := map[int]string{
		1:    `not json at all`,
		1200: `{"kind":"access","id":"bad-1200","time":"2026-11-02T08:00:00Z","org":"o"}`,
		2500: `{"kind":"auth","id":"bad-2500","time":"noon","org":"o","user":"u","service":"s","result":"success"}`,
	}
	path := writeDay(t, t.TempDir(), 2500, bad)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var totals []ingest.Result
	src := file.New([]string{path}, file.Options{Logger: discard, Progress: func(_ string, total ingest.Result) { totals = append(totals, total) }})
	for round := 1; round <= 2; round++ {
		if err := src.Run(ctx, p); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if n := s.Count(t, bus.StreamEvents); n != 2497 {
			t.Errorf("round %d: EVENTS holds %d, want 2497", round, n)
		}
		if n := s.Count(t, bus.StreamDLQ); n != 3 {
			t.Errorf("round %d: DEADLETTER holds %d, want 3", round, n)
		}
	}
	want := []ingest.Result{{Accepted: 2497, Rejected: 3}, {Accepted: 2497, Rejected: 3, Duplicates: 2497}}
	if fmt.Sprint(totals) != fmt.Sprint(want) {
		t.Errorf("results %+v, want %+v", totals, want)
	}

	for _, m := range s.Messages(t, bus.StreamDLQ) {
		where := m.Header.Get("Breachd-Where")
		var line int
		if _, err := fmt.Sscanf(where, "day.jsonl:%d", &line); err != nil || bad[line] != string(m.Data) {
			t.Errorf("dead letter at %q = %q, want line %d of the file", where, m.Data, line)
		}
		if m.Subject != "breachd.dlq.file" {
			t.Errorf("dead letter subject %s", m.Subject)
		}
	}
	// Each valid line is stored exactly once, under its own id, in file order.
	events := s.Messages(t, bus.StreamEvents)
	next := 1
	for _, m := range events {
		for bad[next] != "" {
			next++
		}
		if id := m.Header.Get(bus.HeaderMsgID); id != fmt.Sprintf("lms-1-%06d", next) {
			t.Fatalf("event %d has id %s, want line %d's", m.Sequence, id, next)
		}
		next++
	}
}
