package notify

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/event"
)

// republisher repairs a lost publication of the changes that page people and that nothing
// else repeats: a deadline warning (the Watcher's) and a state change made by a person (the
// CLI's). Such a change is stored by its compare-and-set before it is published; a crash or a
// failed publication in between would leave it unannounced. When an incident's latest change
// is one of them (its timeline entry is the last and was made at Updated) and younger than half
// the INCIDENTS duplicate window, the Watcher publishes it again under the same Nats-Msg-Id:
// the stream drops it if it had it, so the change is on INCIDENTS once either way. A version
// is published at most once per Watcher after the server confirmed it.
type republisher struct {
	js     jetstream.JetStream
	mu     sync.Mutex
	window time.Duration    // 0: not read yet
	done   map[string]int64 // incident id → version confirmed on the stream
}

// lastChange is the change that produced inc's current version, if it is one to repair.
func lastChange(inc *event.Incident) (Change, bool) {
	n := len(inc.Timeline)
	if n == 0 || !inc.Timeline[n-1].At.Equal(inc.Updated) {
		return Change{}, false
	}
	e := inc.Timeline[n-1]
	switch {
	case e.Kind == event.TimelineTransition && e.Actor != actor:
		return Change{Kind: ChangeTransition, Incident: inc, Actor: e.Actor}, true
	case e.Kind == event.TimelineAction && e.Actor == actor && strings.HasPrefix(e.Text, escalationText) && len(inc.Escalations) > 0:
		return Change{Kind: ChangeEscalation, Incident: inc, Actor: actor, Mark: inc.Escalations[len(inc.Escalations)-1]}, true
	}
	return Change{}, false
}

// repair republishes the latest change of inc if it is one to repair and not yet confirmed.
func (r *republisher) repair(ctx context.Context, s *Incidents, inc *event.Incident, now time.Time) error {
	ch, ok := lastChange(inc)
	if !ok {
		return nil
	}
	r.mu.Lock()
	window := r.window
	r.mu.Unlock()
	if window == 0 { // the stream's duplicate window, read once it can be (not under the lock)
		if st, err := r.js.Stream(ctx, bus.StreamIncidents); err == nil {
			window = max(st.CachedInfo().Config.Duplicates/2, time.Nanosecond)
		}
	}
	r.mu.Lock()
	r.window = window
	skip := r.window == 0 || now.Sub(inc.Updated) >= r.window || r.done[inc.ID] >= inc.Version
	r.mu.Unlock()
	if skip {
		return nil
	}
	if _, err := s.handOff(ctx, ch); err != nil {
		return err
	}
	r.published(inc)
	return nil
}

// published records that inc's current version is on the stream.
func (r *republisher) published(inc *event.Incident) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done[inc.ID] = max(r.done[inc.ID], inc.Version)
}

// keep forgets the incidents not in open.
func (r *republisher) keep(open []*event.Incident) {
	ids := make(map[string]bool, len(open))
	for _, inc := range open {
		ids[inc.ID] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.done {
		if !ids[id] {
			delete(r.done, id)
		}
	}
}
