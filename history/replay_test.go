package history_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"breachd/event"
	"breachd/history"
)

// replayFixture writes events of all three kinds spread over five hours (written twice, as a
// redelivered batch would be) and returns them in (time, id) order.
func replayFixture(t *testing.T, s *history.Store) []*event.Event {
	t.Helper()
	base := time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)
	var evs []*event.Event
	for i := range 60 {
		at := base.Add(time.Duration(i) * 5 * time.Minute)
		var e event.Event
		switch i % 3 {
		case 0:
			e = event.Event{Kind: event.KindAuth, User: fmt.Sprintf("u%d@o.no", i%7), Service: "https://lms", ServiceName: "LMS",
				Result: "success", Method: "password", IP: "193.157.1.20", Country: "NO", UserAgent: "ua"}
		case 1:
			e = event.Event{Kind: event.KindAccess, Actor: fmt.Sprintf("u%d@o.no", i%7), ActorRole: "teacher", Action: "view",
				Subject: "ola@o.no", Resource: "grades", Service: "https://lms", Group: "g1", Records: int64(i), IP: "10.0.0.1", Country: "NO"}
		case 2:
			active := i%2 == 0
			e = event.Event{Kind: event.KindDirectory, Op: event.OpPerson, User: fmt.Sprintf("u%d@o.no", i%7),
				Affiliations: []string{"faculty", "employee"}, PrimaryAffiliation: "faculty", Schools: []string{"NO1"},
				NINHash: "ab", HiddenIdentity: true, Active: &active}
		}
		e.ID, e.Time, e.Org = fmt.Sprintf("e-%03d", i), at, "o.no"
		evs = append(evs, &e)
	}
	// Two events at the same instant: (time, id) order, across tables.
	evs = append(evs, &event.Event{Kind: event.KindAuth, ID: "e-000b", Time: base, Org: "o.no", User: "x@o.no", Service: "s", Result: "failure"})
	for range 2 {
		if err := s.WriteEvents(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortStableFunc(evs, func(a, b *event.Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return evs
}

func collect(t *testing.T, s *history.Store, from, to time.Time, opts history.ReplayOptions) []*event.Event {
	t.Helper()
	var got []*event.Event
	n, err := s.Replay(context.Background(), from, to, opts, func(e *event.Event) error { got = append(got, e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(got)) {
		t.Errorf("Replay returned %d, delivered %d", n, len(got))
	}
	return got
}

func TestReplayRangeOrderAndChunks(t *testing.T) {
	s := openStore(t)
	all := replayFixture(t, s)
	from, to := all[10].Time, all[50].Time
	var want []*event.Event
	for _, e := range all {
		if !e.Time.Before(from) && e.Time.Before(to) {
			want = append(want, e)
		}
	}
	for _, chunk := range []int{1, 7, 1_000_000} {
		t.Run(fmt.Sprint("chunk=", chunk), func(t *testing.T) {
			var planned int64
			chunks := 0
			got := collect(t, s, from, to, history.ReplayOptions{ChunkRows: chunk, Planned: func(rows int64, c int) { planned, chunks = rows, c }})
			if len(got) != len(want) {
				t.Fatalf("replayed %d events, want %d (duplicates must collapse, bounds are [from, to))", len(got), len(want))
			}
			for i := range want {
				if !sameEvent(got[i], want[i]) {
					t.Fatalf("event %d:\n got %+v\nwant %+v", i, *got[i], *want[i])
				}
			}
			// Planned counts stored rows, duplicates included (each event was written twice).
			if planned < int64(len(want)) || planned > 2*int64(len(want)) {
				t.Errorf("planned %d rows for %d events", planned, len(want))
			}
			wantChunks := map[int]int{1: 5, 7: 5, 1_000_000: 1}[chunk] // [06:45, 10:05) touches five hours, each > 7 rows
			if chunks != wantChunks {
				t.Errorf("%d chunks, want %d", chunks, wantChunks)
			}
		})
	}
}

func TestReplayKindsOpenEndsAndDirectoryBefore(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	all := replayFixture(t, s)
	if got := collect(t, s, time.Time{}, time.Time{}, history.ReplayOptions{ChunkRows: 5}); len(got) != len(all) {
		t.Errorf("open range: %d events, want %d", len(got), len(all))
	}
	cut := all[31].Time
	var want []string
	for _, e := range all {
		if e.Kind == event.KindDirectory && e.Time.Before(cut) {
			want = append(want, e.ID)
		}
	}
	var got []string
	n, err := s.ReplayDirectoryBefore(ctx, cut, func(e *event.Event) error {
		if e.Kind != event.KindDirectory || e.Active == nil {
			t.Errorf("directory replay delivered %+v", *e)
		}
		got = append(got, e.ID)
		return nil
	})
	if err != nil || n != int64(len(want)) || !slices.Equal(got, want) {
		t.Errorf("ReplayDirectoryBefore = %d, %v: %v; want %v", n, err, got, want)
	}
	auth := collect(t, s, time.Time{}, cut, history.ReplayOptions{Kinds: []event.Kind{event.KindAuth, event.KindAuth}})
	for _, e := range auth {
		if e.Kind != event.KindAuth || !e.Time.Before(cut) {
			t.Errorf("auth replay delivered %s %s at %s", e.Kind, e.ID, e.Time)
		}
	}
	if len(auth) == 0 {
		t.Error("no auth events replayed")
	}
}

func TestReplayErrors(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	replayFixture(t, s)
	stop := errors.New("stop")
	calls := 0
	n, err := s.Replay(ctx, time.Time{}, time.Time{}, history.ReplayOptions{ChunkRows: 3}, func(*event.Event) error {
		if calls++; calls == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 4 {
		t.Errorf("fn error: n %d err %v; want 4 and the error unchanged", n, err)
	}
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	if _, err := s.Replay(ctx, t0, t0, history.ReplayOptions{}, nil); err == nil {
		t.Error("empty range accepted")
	}
	if _, err := s.Replay(ctx, time.Time{}, t0, history.ReplayOptions{Kinds: []event.Kind{"login"}}, nil); err == nil {
		t.Error("unknown kind accepted")
	}
}

// sameEvent compares a replayed event with the one written (times as instants).
func sameEvent(got, want *event.Event) bool {
	w, g := *want, *got
	if !w.Time.Equal(g.Time) {
		return false
	}
	w.Time, g.Time = time.Time{}, time.Time{}
	if w.Kind == event.KindAccess && w.Records == 0 {
		w.Records = 1 // stored as at least 1
	}
	if w.Kind == event.KindDirectory && w.Active == nil {
		w.Active = g.Active
	}
	return reflect.DeepEqual(w, g)
}
