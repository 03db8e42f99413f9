package notify

import (
	"context"
	"testing"
	"time"

	"breachd/event"
)

// TestListFollowsChanges: a Store that listed before sees, on its next List, the incidents
// opened, changed and deleted since, by this process or another (a second Store on the bucket).
func TestListFollowsChanges(t *testing.T) {
	js, _ := startJetStream(t)
	ctx := context.Background()
	now := t0.Add(time.Hour)
	mine, other := testIncidents(t, js, nil, now), testIncidents(t, js, nil, now)
	first := openWith(t, mine, testAlert("al-1", "r", event.SeverityHigh))
	list := func(want ...string) []*event.Incident {
		t.Helper()
		incs, err := mine.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, inc := range incs {
			ids = append(ids, inc.ID)
		}
		if len(ids) != len(want) {
			t.Fatalf("listed %v, want %v", ids, want)
		}
		for i := range want {
			if ids[i] != want[i] {
				t.Fatalf("listed %v, want %v", ids, want)
			}
		}
		return incs
	}
	list(first.ID)
	list(first.ID) // nothing changed: the same

	a := testAlert("al-2", "r", event.SeverityLow)
	a.Org, a.Account = "oslo.kommune.no", "kari@oslo.kommune.no"
	second := openWith(t, other, a)
	if _, err := other.Transition(ctx, first.ID, event.StateContained, Edit{Actor: "tester"}); err != nil {
		t.Fatal(err)
	}
	incs := list(second.ID, first.ID) // newest first
	if incs[1].State != event.StateContained || incs[1].Version != first.Version+1 {
		t.Errorf("the changed incident is listed as %s v%d, want contained v%d", incs[1].State, incs[1].Version, first.Version+1)
	}
	if err := other.kv.Delete(ctx, incKey(second.ID)); err != nil {
		t.Fatal(err)
	}
	list(first.ID)
	if err := other.kv.Purge(ctx, incKey(first.ID)); err != nil {
		t.Fatal(err)
	}
	list()
	// A new Store reads the bucket as it is now.
	fresh := testIncidents(t, js, nil, now)
	if incs, err := fresh.List(ctx); err != nil || len(incs) != 0 {
		t.Errorf("a new store lists %d incidents, %v", len(incs), err)
	}
}
