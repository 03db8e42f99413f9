package file_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest"
	"breachd/ingest/file"
)

// eventLine is a valid access event with the given id.
func eventLine(id string) string {
	return fmt.Sprintf(`{"kind":"access","id":%q,"time":"2026-11-02T08:03:50Z","org":"bergen.kommune.no",`+
		`"actor":"kari@bergen.kommune.no","actor_role":"teacher","action":"view","subject":"ola@bergen.kommune.no",`+
		`"resource":"grades","service":"lms"}`, id)
}

// appendTo appends s to path, creating it.
func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.WriteString(f, s); err != nil {
		t.Fatal(err)
	}
}

// events returns n complete lines with ids prefix-from … prefix-(from+n-1), and the ids.
func events(prefix string, from, n int) (string, []string) {
	var b strings.Builder
	var ids []string
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		b.WriteString(eventLine(id) + "\n")
		ids = append(ids, id)
	}
	return b.String(), ids
}

// countingSink passes batches to the Pipeline and counts them; after stopAfter successful
// submits (0: never) it cancels stop and refuses further submits.
type countingSink struct {
	sink      ingest.Sink
	stopAfter int
	stop      context.CancelFunc

	mu      sync.Mutex
	submits int
	total   ingest.Result
	records int
}

func (c *countingSink) Submit(ctx context.Context, b ingest.Batch) (ingest.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopAfter > 0 && c.submits >= c.stopAfter {
		return ingest.Result{}, context.Canceled
	}
	res, err := c.sink.Submit(ctx, b)
	if err != nil {
		return res, err
	}
	c.submits++
	c.records += len(b.Records)
	c.total.Add(res)
	if c.submits == c.stopAfter {
		c.stop()
	}
	return res, nil
}

// waitRecords waits until n records were submitted successfully. (The stream may hold them a
// moment before Submit returns: stopping then would cancel a Submit that did store them.)
func (c *countingSink) waitRecords(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, got := c.result()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records submitted, want %d", got, n)
		}
	}
}

func (c *countingSink) result() (ingest.Result, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total, c.records
}

// following runs a Follow of path until the test ends or stop is called; stop waits for Run
// and fails the test if it returned an error.
func following(t *testing.T, path string, opts file.FollowOptions, sink ingest.Sink) (stop func()) {
	t.Helper()
	if opts.Poll == 0 {
		opts.Poll, opts.FlushAfter = 10*time.Millisecond, 10*time.Millisecond
	}
	opts.Logger = discard
	f, err := file.NewFollow(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, sink) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitCount(t *testing.T, s *bustest.Server, stream string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := s.Count(t, stream)
		if got == n {
			return
		}
		if got > n || time.Now().After(deadline) {
			t.Fatalf("%s holds %d messages, want %d", stream, got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// storedOnce fails unless EVENTS holds exactly ids, each once.
func storedOnce(t *testing.T, s *bustest.Server, ids []string) {
	t.Helper()
	got := map[string]int{}
	for _, m := range s.Messages(t, bus.StreamEvents) {
		var e struct{ ID string }
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatal(err)
		}
		got[e.ID]++
	}
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("EVENTS holds %s %d times, want once", id, got[id])
		}
	}
	if len(got) != len(ids) {
		t.Errorf("EVENTS holds %d distinct ids, want %d", len(got), len(ids))
	}
}

func newPipeline(t *testing.T) (*bustest.Server, *ingest.Pipeline) {
	s := bustest.Start(t)
	p, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(t), discard, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

// A file that does not exist yet, then grows; a partial last line waits for its newline; a
// line longer than MaxLine is dead-lettered and the lines after it are not disturbed.
func TestFollowGrowingFile(t *testing.T) {
	s, p := newPipeline(t)
	path := filepath.Join(t.TempDir(), "app.jsonl")
	following(t, path, file.FollowOptions{}, p)

	lines, ids := events("grow", 1, 10)
	appendTo(t, path, lines)
	waitCount(t, s, bus.StreamEvents, 10)

	half := eventLine("grow-11")
	appendTo(t, path, "\n"+half[:40]) // a blank line, then half a line
	// Ten polls: a follower that submitted partial lines would have done so by now.
	time.Sleep(100 * time.Millisecond)
	if n, d := s.Count(t, bus.StreamEvents), s.Count(t, bus.StreamDLQ); n != 10 || d != 0 {
		t.Fatalf("after half a line: EVENTS %d, DEADLETTER %d; want 10, 0", n, d)
	}
	more, moreIDs := events("grow", 12, 1)
	appendTo(t, path, half[40:]+"\r\n"+more)
	ids = append(append(ids, "grow-11"), moreIDs...)
	waitCount(t, s, bus.StreamEvents, 12)

	long := `{"kind":"access","id":"grow-long","pad":"` + strings.Repeat("x", file.MaxLine) + `"}`
	last, lastIDs := events("grow", 13, 1)
	appendTo(t, path, long+"\n"+last)
	waitCount(t, s, bus.StreamEvents, 13)
	waitCount(t, s, bus.StreamDLQ, 1)
	storedOnce(t, s, append(ids, lastIDs...))
	dl := s.Messages(t, bus.StreamDLQ)[0]
	// Lines: 10 events, a blank line, grow-11, grow-12, the long line.
	if where := dl.Header.Get("Breachd-Where"); where != "app.jsonl:14" || len(dl.Data) != file.MaxLine {
		t.Errorf("dead letter at %s with %d bytes, want app.jsonl:14 with MaxLine bytes", where, len(dl.Data))
	}
}

// logrotate's default: the file is renamed, the writer still appends to the old one for a
// while, then a new file is created. Every line of both files is stored once.
func TestFollowRenameRotation(t *testing.T) {
	s, p := newPipeline(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.jsonl")
	first, ids := events("old", 1, 100)
	appendTo(t, path, first)
	following(t, path, file.FollowOptions{Batch: 30}, p)
	waitCount(t, s, bus.StreamEvents, 100)

	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	late, lateIDs := events("old", 101, 20)
	if _, err := io.WriteString(w, late+eventLine("old-121")); err != nil { // the last without newline
		t.Fatal(err)
	}
	w.Close()
	next, nextIDs := events("new", 1, 50)
	appendTo(t, path, next)
	ids = append(append(append(ids, lateIDs...), "old-121"), nextIDs...)
	waitCount(t, s, bus.StreamEvents, uint64(len(ids)))
	storedOnce(t, s, ids)
	if d := s.Count(t, bus.StreamDLQ); d != 0 {
		t.Errorf("DEADLETTER holds %d, want 0", d)
	}
}

// copytruncate: the file is copied and truncated in place; new lines start at offset 0,
// whether the follower sees the file empty or already longer than before.
func TestFollowCopyTruncate(t *testing.T) {
	for _, c := range []struct {
		name  string
		after int // lines written right after the truncation
	}{{"shorter than before", 30}, {"longer than before", 150}} {
		t.Run(c.name, func(t *testing.T) {
			s, p := newPipeline(t)
			path := filepath.Join(t.TempDir(), "app.jsonl")
			first, ids := events("before", 1, 100)
			appendTo(t, path, first)
			following(t, path, file.FollowOptions{}, p)
			waitCount(t, s, bus.StreamEvents, 100)

			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".1", data, 0o600); err != nil {
				t.Fatal(err)
			}
			next, nextIDs := events("after", 1, c.after)
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(f, next); err != nil {
				t.Fatal(err)
			}
			f.Close()
			ids = append(ids, nextIDs...)
			waitCount(t, s, bus.StreamEvents, uint64(len(ids)))
			storedOnce(t, s, ids)
		})
	}
}

// A restart resumes at the saved position: nothing is lost and nothing is submitted twice,
// also when the file was rotated while the follower was stopped.
func TestFollowRestart(t *testing.T) {
	s, p := newPipeline(t)
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.jsonl")
	lines, ids := events("r", 1, 3000)
	appendTo(t, path, lines)
	opts := file.FollowOptions{Batch: 500, StateDir: state}

	// First run: stops itself after three batches.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := &countingSink{sink: p, stopAfter: 3, stop: cancel}
	f, err := file.NewFollow(path, file.FollowOptions{Batch: 500, StateDir: state, Poll: 10 * time.Millisecond, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Run(ctx, first); err != nil {
		t.Fatalf("first run: %v", err)
	}
	if _, n := first.result(); n != 1500 {
		t.Fatalf("first run submitted %d lines, want 1500", n)
	}

	// Second run: appends while it runs; picks up at line 1501.
	more, moreIDs := events("r", 3001, 200)
	appendTo(t, path, more)
	second := &countingSink{sink: p}
	stop := following(t, path, opts, second)
	ids = append(ids, moreIDs...)
	second.waitRecords(t, 1700)
	stop()
	waitCount(t, s, bus.StreamEvents, 3200)
	if res, n := second.result(); n != 1700 || res.Duplicates != 0 {
		t.Fatalf("second run submitted %d lines with %d duplicates, want 1700 and none", n, res.Duplicates)
	}

	// Stopped: more lines go to the file, it is rotated (renamed), and a new one begins.
	tail, tailIDs := events("r", 3201, 40)
	appendTo(t, path, tail)
	if err := os.Rename(path, path+"-20261123"); err != nil {
		t.Fatal(err)
	}
	fresh, freshIDs := events("fresh", 1, 60)
	appendTo(t, path, fresh)
	third := &countingSink{sink: p}
	stop = following(t, path, opts, third)
	ids = append(append(ids, tailIDs...), freshIDs...)
	third.waitRecords(t, 100)
	stop()
	waitCount(t, s, bus.StreamEvents, uint64(len(ids)))
	if res, n := third.result(); n != 100 || res.Duplicates != 0 {
		t.Fatalf("third run submitted %d lines with %d duplicates, want 100 and none", n, res.Duplicates)
	}
	storedOnce(t, s, ids)
}

// A damaged state file is not fatal: the file is read from its beginning, which ids make
// harmless.
func TestFollowDamagedState(t *testing.T) {
	s, p := newPipeline(t)
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.jsonl")
	lines, ids := events("d", 1, 50)
	appendTo(t, path, lines)
	first := &countingSink{sink: p}
	stop := following(t, path, file.FollowOptions{StateDir: state}, first)
	first.waitRecords(t, 50)
	stop()
	saved, err := filepath.Glob(filepath.Join(state, "follow-app.jsonl-*.json"))
	if err != nil || len(saved) != 1 {
		t.Fatalf("state files %v (%v), want one", saved, err)
	}
	if err := os.WriteFile(saved[0], []byte(`{"path":`), 0o600); err != nil {
		t.Fatal(err)
	}
	second := &countingSink{sink: p}
	stop = following(t, path, file.FollowOptions{StateDir: state}, second)
	second.waitRecords(t, 50)
	stop()
	if res, n := second.result(); n != 50 || res.Duplicates != 50 {
		t.Errorf("after a damaged state: %d lines, %d duplicates; want the whole file again, all duplicates", n, res.Duplicates)
	}
	storedOnce(t, s, ids)
	if _, err := file.NewFollow("-", file.FollowOptions{}); err == nil {
		t.Error(`NewFollow("-") = nil error, want one: stdin cannot be followed`)
	}
}
