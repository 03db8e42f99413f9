package rules

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"breachd/event"
)

func TestMaxWindow(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	var want time.Duration
	for _, r := range set.Rules() {
		want = max(want, r.Window)
	}
	if want == 0 {
		t.Fatal("the default pack has no windowed rule: the test checks nothing")
	}
	if got := set.MaxWindow(); got != want {
		t.Errorf("MaxWindow = %v, want %v", got, want)
	}
	if got := mustEngine(t, set, nil, nil).MaxWindow(); got != want {
		t.Errorf("Engine.MaxWindow = %v, want %v", got, want)
	}
	noWindow := mustParse(t, "rules:\n  - {id: r, title: r, severity: low, when: [auth], condition: \"true\"}\n")
	if got := noWindow.MaxWindow(); got != 0 {
		t.Errorf("MaxWindow without windows = %v, want 0", got)
	}
}

// TestWarmMatchesEvaluate: an engine that warmed up on the first k events and then evaluates
// the rest reports the same windows as one that evaluated them all, for every k.
func TestWarmMatchesEvaluate(t *testing.T) {
	set := mustParse(t, probe)
	var evs []*event.Event
	for i := range 40 {
		result := "failure"
		if i%7 == 3 {
			result = "success"
		}
		e := auth(fmt.Sprintf("e%d", i), fmt.Sprintf("u%d", i%5), result, time.Duration(i)*25*time.Second)
		e.IP = fmt.Sprintf("ip%d", i%2)
		if i == 30 { // late: before some events already seen
			e.Time = e.Time.Add(-3 * time.Minute)
		}
		evs = append(evs, e)
	}
	all := mustEngine(t, set, nil, nil)
	var want []string
	for _, e := range evs {
		want = append(want, summaries(all.Evaluate(context.Background(), e))...)
	}
	for k := range len(evs) + 1 {
		g := mustEngine(t, set, nil, nil)
		for _, e := range evs[:k] {
			g.Warm(e)
		}
		if st := g.Stats(); st[0].Evaluated != 0 || st[0].Alerts != 0 {
			t.Errorf("k=%d: warm-up counted in stats: %+v", k, st[0])
		}
		var got []string
		for _, e := range evs[k:] {
			got = append(got, summaries(g.Evaluate(context.Background(), e))...)
		}
		if !slices.Equal(got, want[k:]) {
			t.Errorf("warmed on %d events, then evaluated:\n got %v\nwant %v", k, got, want[k:])
		}
	}
}

func summaries(alerts []event.Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.EventID+":"+a.Summary)
	}
	return out
}

// TestWarmCredentialStuffing: the default pack's burst split by a restart alerts only when the
// first part was warmed, and the warm-up neither alerts nor suppresses.
func TestWarmCredentialStuffing(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	var burst []*event.Event
	for i := range 25 {
		burst = append(burst, auth(fmt.Sprintf("f%d", i), "ola@ex.no", "failure", time.Duration(i)*10*time.Second))
	}
	success := auth("s1", "ola@ex.no", "success", 260*time.Second)
	for _, warm := range []bool{true, false} {
		g := mustEngine(t, set, nil, nil)
		for _, e := range burst[:15] {
			if warm {
				g.Warm(e)
			}
		}
		var alerts []event.Alert
		for _, e := range append(burst[15:], success) {
			alerts = append(alerts, g.Evaluate(context.Background(), e)...)
		}
		if got, want := len(alerts), map[bool]int{true: 1, false: 0}[warm]; got != want {
			t.Errorf("warm-up %v: %d alerts, want %d", warm, got, want)
		}
	}

	// A success warmed after the whole burst (the alert was raised before the restart) does
	// not set the rule's suppression: the next success raises a new alert, as suppression
	// state is not restored.
	g := mustEngine(t, set, nil, nil)
	for _, e := range append(slices.Clone(burst), success) {
		if a := g.Evaluate(context.Background(), e); len(a) > 0 && e != success {
			t.Fatalf("alert before the success: %v", a)
		}
	}
	g2 := mustEngine(t, set, nil, nil)
	for _, e := range append(slices.Clone(burst), success) {
		g2.Warm(e)
	}
	again := auth("s2", "ola@ex.no", "success", 270*time.Second)
	if a := g2.Evaluate(context.Background(), again); len(a) != 1 {
		t.Errorf("after warming the burst and its success: %d alerts for the next success, want 1", len(a))
	}
	if a := g.Evaluate(context.Background(), again); len(a) != 0 {
		t.Errorf("without a restart the next success is suppressed: got %d alerts", len(a))
	}
}

// TestForget: an engine that evaluated a stream, forgot its state and evaluates the stream
// again raises what a new engine raises (its windows and suppression start empty again).
func TestForget(t *testing.T) {
	set := mustParse(t, probe)
	var evs []*event.Event
	for i := range 40 {
		evs = append(evs, auth(fmt.Sprintf("e%d", i), fmt.Sprintf("u%d", i%3), "failure", time.Duration(i)*20*time.Second))
	}
	evaluate := func(g *Engine) []string {
		var out []string
		for _, e := range evs {
			out = append(out, summaries(g.Evaluate(context.Background(), e))...)
		}
		return out
	}
	want := evaluate(mustEngine(t, set, nil, nil))
	if len(want) == 0 {
		t.Fatal("the probe raises nothing on the stream: the test checks nothing")
	}
	g := mustEngine(t, set, nil, nil)
	evaluate(g)
	if again := evaluate(g); slices.Equal(again, want) {
		t.Fatal("evaluating the stream twice raises the same as once: the state does not show")
	}
	g.Forget()
	if got := evaluate(g); !slices.Equal(got, want) {
		t.Errorf("after Forget:\n got %v\nwant %v", got, want)
	}
}

// TestRestoreSuppression: an engine restored from the alerts of a clean run (as a detector does
// from history after a restart) alerts on the rest of the events exactly as the clean run did:
// a hit within the period of a restored alert is suppressed, one after it alerts, and the
// restored alert's own event, evaluated again (unacked before the restart), alerts again.
func TestRestoreSuppression(t *testing.T) {
	set := mustParse(t, `rules:
  - id: s
    title: s
    severity: high
    when: [auth]
    condition: event.Result == "failure"
    suppress: {key: event.User, for: 1h}
  - id: plain
    title: plain
    severity: low
    when: [auth]
    condition: event.Result == "failure"
`)
	if got := mustEngine(t, set, nil, nil).Suppressions(); len(got) != 1 || got["s"] != time.Hour {
		t.Errorf("Suppressions = %v, want map[s:1h]", got)
	}
	evs := []*event.Event{
		auth("0", "a", "failure", 0),
		auth("1", "b", "failure", 5*time.Minute),
		// restart here
		auth("2", "a", "failure", 30*time.Minute), // within a's period: suppressed
		auth("3", "b", "failure", 66*time.Minute), // after b's: alerts
		auth("4", "a", "failure", 59*time.Minute),
		auth("5", "a", "failure", 61*time.Minute), // after a's: alerts
	}
	ids := func(as []event.Alert) []string {
		var out []string
		for _, a := range as {
			if a.RuleID == "s" {
				out = append(out, a.EventID)
			}
		}
		return out
	}
	clean := mustEngine(t, set, nil, nil)
	var cleanAfter []string
	for i, e := range evs {
		got := ids(clean.Evaluate(context.Background(), e))
		if i >= 2 {
			cleanAfter = append(cleanAfter, got...)
		}
	}
	if want := []string{"3", "5"}; !slices.Equal(cleanAfter, want) {
		t.Fatalf("clean run alerts after the restart point %v, want %v", cleanAfter, want)
	}

	run := func(restore bool) []string {
		g := mustEngine(t, set, nil, nil)
		if restore {
			g.Restore("s", evs[0])
			g.Restore("s", evs[1])
			g.Restore("plain", evs[0]) // not suppressing: nothing to restore
			g.Restore("gone", evs[0])  // not in the set
		}
		var got []string
		for _, e := range evs[2:] {
			got = append(got, ids(g.Evaluate(context.Background(), e))...)
		}
		return got
	}
	if got := run(true); !slices.Equal(got, cleanAfter) {
		t.Errorf("restored: alerts %v, want the clean run's %v", got, cleanAfter)
	}
	if got := run(false); slices.Equal(got, cleanAfter) {
		t.Errorf("not restored: alerts %v, the same as the clean run's: the test checks nothing", got)
	}

	// The events of restored alerts, redelivered (unacked before the restart), alert again, in
	// any order; a hit within the period that was not an alert is still folded.
	g := mustEngine(t, set, nil, nil)
	g.Restore("s", evs[0])
	g.Restore("s", evs[5])
	var got []string
	for _, e := range []*event.Event{evs[5], evs[0], evs[2], evs[4]} {
		got = append(got, ids(g.Evaluate(context.Background(), e))...)
	}
	if want := []string{"5", "0"}; !slices.Equal(got, want) {
		t.Errorf("redelivered alert events and hits: alerts %v, want %v", got, want)
	}

	// Forget drops restored suppression too.
	g.Forget()
	if got := ids(g.Evaluate(context.Background(), evs[2])); !slices.Equal(got, []string{"2"}) {
		t.Errorf("after Forget: alerts %v, want [2]", got)
	}
}
