package history_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"breachd/bus/bustest"
	"breachd/event"
	"breachd/history"
)

// TestReplayDirectoryCollapsesCopies: with merges stopped, so that the table holds every copy,
// ReplayDirectory delivers what FINAL does, in (time, id, org) order: two organisations whose
// events interleave in time, with equal times and ids across them, in an hour bigger than the
// budget (256 rows), so read by organisation, each over several pages, and copies (written
// later, so ingested later, and changed) of some events, one of them straddling the first page
// boundary.
func TestReplayDirectoryCollapsesCopies(t *testing.T) {
	ctx := context.Background()
	history.SetDirectoryBudget(t, 256)
	s := openStore(t)
	if err := s.Conn().Exec(ctx, "SYSTEM STOP MERGES directory_events"); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)
	const perOrg = 150 // over three pages (64, then up to 128 rows)
	var orig, copies []*event.Event
	for i := range perOrg {
		for _, org := range []string{"a.no", "b.no"} {
			active := true
			e := &event.Event{Kind: event.KindDirectory, ID: fmt.Sprintf("e-%03d", i), Time: base.Add(time.Duration(i/2) * time.Second),
				Org: org, Op: event.OpPerson, User: fmt.Sprintf("u%d@%s", i, org), NINHash: "orig", Active: &active}
			orig = append(orig, e)
			// Event 63 is the 64th row: its copy, ingested later, ends the first page and the
			// original starts the second. No event before it has a copy.
			if i == 63 || (i > 63 && i%5 == 0) {
				c := *e
				c.NINHash = "copy"
				copies = append(copies, &c)
			}
		}
	}
	if err := s.WriteEvents(ctx, orig); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // ingested (milliseconds) orders the copies after the originals
	if err := s.WriteEvents(ctx, copies); err != nil {
		t.Fatal(err)
	}
	checkReplayDirectory(t, s, len(orig), len(copies))
}

// TestReplayDirectoryChunksAndSnapshot: with a budget of 200 rows and merges stopped,
// ReplayDirectory delivers what FINAL does, in (time, id, org) order, from a directory of
// ordinary hours (read as time chunks, two hours in one chunk, then a cut) around a snapshot
// hour of 450 rows (read by organisation), all with copies, one of them straddling a page
// boundary of the snapshot.
func TestReplayDirectoryChunksAndSnapshot(t *testing.T) {
	ctx := context.Background()
	history.SetDirectoryBudget(t, 200)
	s := openStore(t)
	if err := s.Conn().Exec(ctx, "SYSTEM STOP MERGES directory_events"); err != nil {
		t.Fatal(err)
	}
	orgs := []string{"a.no", "b.no", "c.no"}
	base := time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)
	var orig, copies []*event.Event
	add := func(hour, perOrg int, snapshot bool) {
		for i := range perOrg {
			for _, org := range orgs {
				at := base.Add(time.Duration(hour) * time.Hour)
				if !snapshot {
					at = at.Add(time.Duration(i/2) * time.Second) // organisations interleave, two events a second
				}
				active := true
				e := &event.Event{Kind: event.KindDirectory, ID: fmt.Sprintf("h%d-%03d", hour, i), Time: at, Org: org,
					Op: event.OpPerson, User: fmt.Sprintf("u%d@%s", i, org), NINHash: "orig", Active: &active}
				orig = append(orig, e)
				// In the snapshot, with the copies of i%7 == 3 before it, event 55's copy (newest
				// first) is the 64th row and ends the first page; its original starts the second.
				if i%7 == 3 || (snapshot && i == 55) {
					c := *e
					c.NINHash = "copy"
					copies = append(copies, &c)
				}
			}
		}
	}
	add(0, 30, false) // hours 0 and 1: one chunk of 180 rows and their copies
	add(1, 30, false)
	add(2, 150, true) // 450 rows at one time: read by organisation
	add(3, 33, false) // 99 rows
	add(5, 40, false) // 120 rows: a chunk of its own
	if err := s.WriteEvents(ctx, orig); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // ingested (milliseconds) orders the copies after the originals
	if err := s.WriteEvents(ctx, copies); err != nil {
		t.Fatal(err)
	}
	checkReplayDirectory(t, s, len(orig), len(copies))
}

// checkReplayDirectory compares ReplayDirectory with FINAL ORDER BY time, id, org, of a table
// holding events originals and copies of them, each copy changed and ingested later.
func checkReplayDirectory(t *testing.T, s *history.Store, events, copies int) {
	t.Helper()
	ctx := context.Background()
	var stored uint64
	if err := s.Conn().QueryRow(ctx, "SELECT count() FROM directory_events").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != uint64(events+copies) {
		t.Fatalf("%d rows stored, want %d: merges collapsed copies, the test would not exercise ReplayDirectory's collapse", stored, events+copies)
	}

	type row struct {
		ID, Org, NINHash string
		Time             time.Time
	}
	var want []row
	rows, err := s.Conn().Query(ctx, "SELECT id, org, nin_hash, time FROM directory_events FINAL ORDER BY time, id, org")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.ID, &r.Org, &r.NINHash, &r.Time); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	var got []row
	n, err := s.ReplayDirectory(ctx, func(e *event.Event) error {
		got = append(got, row{e.ID, e.Org, e.NINHash, e.Time})
		return nil
	})
	if err != nil || n != len(got) {
		t.Fatalf("ReplayDirectory = %d, %v; delivered %d", n, err, len(got))
	}
	if len(want) != events || len(got) != len(want) {
		t.Fatalf("ReplayDirectory delivered %d events, FINAL %d; want %d", len(got), len(want), events)
	}
	copied := 0
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].ID != want[i].ID || got[i].Org != want[i].Org || got[i].NINHash != want[i].NINHash {
			t.Fatalf("event %d: ReplayDirectory %+v, FINAL %+v", i, got[i], want[i])
		}
		if got[i].NINHash == "copy" {
			copied++
		}
	}
	if copied != copies {
		t.Errorf("%d events delivered as their later copy, want %d", copied, copies)
	}
}

// BenchmarkReplayDirectoryInterleaved replays a directory whose organisations all change every
// minute, the worst case of reading by organisation: 40 organisations of 10 000 events each and
// 371 (Feide's organisations) of 1 000 each. It reports the process's CPU time (the embedded
// engine's included) per row:
//
//	setsid go test ./history/ -run '^$' -bench ReplayDirectoryInterleaved -benchtime 2x
func BenchmarkReplayDirectoryInterleaved(b *testing.B) {
	for _, c := range []struct{ orgs, perOrg int }{{40, 10_000}, {371, 1_000}} {
		b.Run(fmt.Sprintf("orgs=%d", c.orgs), func(b *testing.B) { benchmarkReplayDirectory(b, c.orgs, c.perOrg) })
	}
}

func benchmarkReplayDirectory(b *testing.B, orgs, perOrg int) {
	ctx := context.Background()
	s := openLoadStore(b, filepath.Join(b.TempDir(), "data"))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []*event.Event
	for i := range perOrg {
		for k := range orgs {
			org := fmt.Sprintf("org%03d.no", k)
			batch = append(batch, &event.Event{Kind: event.KindDirectory, Op: event.OpMembership, ID: fmt.Sprintf("m-%d-%d", k, i),
				Time: base.Add(time.Duration(i) * time.Minute), Org: org, User: fmt.Sprintf("u%d@%s", i%500, org),
				Group: fmt.Sprintf("fc:gogroup:%s:u:NO1:g%d:2026-08-15:2027-06-20", org, i%50), GoType: "u", Role: "student",
				School: "NO1", Change: "add"})
		}
		if len(batch) >= 100_000 || i == perOrg-1 {
			if err := s.WriteEvents(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.ResetTimer()
	c0, rows := bustest.CPU(b), 0
	for b.Loop() {
		n, err := s.ReplayDirectory(ctx, func(*event.Event) error { return nil })
		if err != nil || n != orgs*perOrg {
			b.Fatalf("ReplayDirectory = %d, %v; want %d", n, err, orgs*perOrg)
		}
		rows += n
	}
	b.ReportMetric(float64((bustest.CPU(b)-c0).Microseconds())/float64(rows), "cpu-µs/row")
}
