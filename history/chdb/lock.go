package chdb

import (
	"context"
	"sync"
)

// turnLock lets one statement use the engine at a time and gives the turn
// to waiting pipeline statements before waiting interactive ones (people's
// queries), so a queue of people's queries never holds up history writes.
// A statement that is already running is not interrupted: its
// max_execution_time bounds how long the next one waits.
type turnLock struct {
	mu          sync.Mutex
	busy        bool
	pipeline    []chan struct{}
	interactive []chan struct{}
}

// acquire blocks until the caller holds the engine or ctx ends.
func (l *turnLock) acquire(ctx context.Context, interactive bool) error {
	l.mu.Lock()
	if !l.busy {
		l.busy = true
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if interactive {
		l.interactive = append(l.interactive, ch)
	} else {
		l.pipeline = append(l.pipeline, ch)
	}
	l.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		if !l.remove(ch) {
			// The turn was handed over while ctx ended: pass it on.
			l.mu.Unlock()
			l.release()
			return ctx.Err()
		}
		l.mu.Unlock()
		return ctx.Err()
	}
}

// remove drops ch from the queues; false if it was handed the turn already.
func (l *turnLock) remove(ch chan struct{}) bool {
	for _, q := range []*[]chan struct{}{&l.pipeline, &l.interactive} {
		for i, c := range *q {
			if c == ch {
				*q = append((*q)[:i], (*q)[i+1:]...)
				return true
			}
		}
	}
	return false
}

// release hands the engine to the next pipeline waiter, else the next
// interactive one, else frees it.
func (l *turnLock) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	var next chan struct{}
	switch {
	case len(l.pipeline) > 0:
		next, l.pipeline = l.pipeline[0], l.pipeline[1:]
	case len(l.interactive) > 0:
		next, l.interactive = l.interactive[0], l.interactive[1:]
	default:
		l.busy = false
		return
	}
	close(next) // busy stays true: the turn passes directly
}
