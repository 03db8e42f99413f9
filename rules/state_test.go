package rules

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A long-lived key compacts its queue; counts and distinct values stay exact.
func TestSeriesCompaction(t *testing.T) {
	w := newWindowState(10, 1000)
	var got Window
	for i := range 500 {
		// one event a second over a 100 s window, 7 distinct values cycling
		got = w.observe("k", t0.Add(time.Duration(i)*time.Second), true, fmt.Sprint(i%7), 100*time.Second, true)
		want := min(i+1, 100)
		if got.Count != want || got.Distinct != min(want, 7) {
			t.Fatalf("event %d: window %+v, want count %d distinct %d", i, got, want, min(want, 7))
		}
	}
	s := w.keys["k"]
	if len(s.times) > 2*100+33 || len(s.vals) != len(s.times) {
		t.Errorf("queue not compacted: %d times, %d vals, head %d", len(s.times), len(s.vals), s.head)
	}
	// Only one value left in the window: distinct shrinks as the others expire.
	for i := range 100 {
		got = w.observe("k", t0.Add(time.Duration(500+i)*time.Second), true, "x", 100*time.Second, true)
	}
	if got.Count != 100 || got.Distinct != 1 {
		t.Errorf("after 100 events of one value: %+v, want 100/1", got)
	}
}

func TestSuppressionBounds(t *testing.T) {
	q := newSuppressState(3)
	for i := range 10 {
		if quiet, _ := q.hit(fmt.Sprint("k", i), fmt.Sprint("e", i), t0.Add(time.Duration(i)*time.Second), time.Hour); quiet {
			t.Fatalf("first hit of key %d suppressed", i)
		}
	}
	if len(q.keys) != 3 || q.evictions != 7 {
		t.Errorf("keys %d evictions %d, want 3 and 7", len(q.keys), q.evictions)
	}
	// Two periods later everything is swept.
	q.hit("new", "e-new", t0.Add(3*time.Hour), time.Hour)
	if len(q.keys) != 1 {
		t.Errorf("keys after sweep: %d, want 1", len(q.keys))
	}
}

func TestLocation(t *testing.T) {
	set := mustParse(t, `rules:
  - id: h
    title: h
    severity: low
    when: [auth]
    condition: "true"
    summary: string(localHour()) + " " + string(localWeekday())
`)
	for _, c := range []struct {
		opts []Option
		at   time.Time
		want string
	}{
		{nil, time.Date(2026, 11, 1, 23, 30, 0, 0, time.UTC), "0 1"},                               // Oslo: Monday 00:30
		{nil, time.Date(2026, 7, 1, 22, 30, 0, 0, time.UTC), "0 4"},                                // summer time: Thursday 00:30
		{[]Option{WithLocation(time.UTC)}, time.Date(2026, 11, 1, 23, 30, 0, 0, time.UTC), "23 0"}, // Sunday 23:30
	} {
		g := mustEngine(t, set, nil, nil, c.opts...)
		e := auth("x", "a", "success", 0)
		e.Time = c.at
		if a := g.Evaluate(context.Background(), e); len(a) != 1 || a[0].Summary != c.want {
			t.Errorf("at %v: %+v, want %q", c.at, a, c.want)
		}
		if g.Set() != set {
			t.Error("Set() is not the set in use")
		}
	}
}
