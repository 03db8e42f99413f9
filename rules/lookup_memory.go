package rules

import (
	"context"
	"sync"
	"time"

	"breachd/event"
)

// memoryHistory is a Lookup over events held in memory: the fixture runner serves a test's
// `history:` (and `directory:`) events through it and adds each event after evaluating it, as
// the detector writes a batch to history after evaluating it. It keeps only what the lookups
// read — successful logins and person events — indexed by account. Safe for concurrent use.
type memoryHistory struct {
	mu      sync.RWMutex
	logins  map[string][]*event.Event // by user
	persons map[string][]*event.Event // by org + "\x00" + user
}

func newMemoryHistory() *memoryHistory {
	return &memoryHistory{logins: make(map[string][]*event.Event), persons: make(map[string][]*event.Event)}
}

// add stores e if a lookup can need it.
func (h *memoryHistory) add(e *event.Event) {
	switch {
	case e.Kind == event.KindAuth && e.Result == "success":
		h.mu.Lock()
		h.logins[e.User] = append(h.logins[e.User], e)
		h.mu.Unlock()
	case e.Kind == event.KindDirectory && e.Op == event.OpPerson:
		h.mu.Lock()
		k := e.Org + "\x00" + e.User
		h.persons[k] = append(h.persons[k], e)
		h.mu.Unlock()
	}
}

// LastLogin implements Lookup.
func (h *memoryHistory) LastLogin(ctx context.Context, user, service, country string, since, before time.Time) (time.Time, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var last time.Time
	for _, e := range h.logins[user] {
		if inPeriod(e.Time, since, before) && (service == "" || e.Service == service) &&
			(country == "" || e.Country == country) && e.Time.After(last) {
			last = e.Time
		}
	}
	return last, ctx.Err()
}

// LastPerson implements Lookup. Of records at the same time, the one added last wins.
func (h *memoryHistory) LastPerson(ctx context.Context, org, user string, since, before time.Time) (event.Event, bool, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var last *event.Event
	for _, e := range h.persons[org+"\x00"+user] {
		if inPeriod(e.Time, since, before) && (last == nil || !e.Time.Before(last.Time)) {
			last = e
		}
	}
	if last == nil {
		return event.Event{}, false, ctx.Err()
	}
	return *last, true, ctx.Err()
}

// inPeriod reports whether t is in [since, before) at the history's millisecond precision.
func inPeriod(t, since, before time.Time) bool {
	t = t.Truncate(time.Millisecond)
	return !t.Before(since.Truncate(time.Millisecond)) && t.Before(before.Truncate(time.Millisecond))
}
