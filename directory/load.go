package directory

import (
	"runtime"

	"breachd/event"
)

// loadGCEvery is how many events Load applies between collections.
const loadGCEvery = 50_000

// Load applies every event replay delivers (a history replay, e.g. history.Store's
// ReplayDirectory, in event-time order) and returns replay's count and error. It is how a
// detector rebuilds its catalogue on start; the catalogue is the one the same events applied
// live give (doc.go).
//
// A rebuild allocates the catalogue (hundreds of MB at Feide's size) and as much again in
// short-lived rows, and Go's collector lets the heap grow to twice what was live at its last
// collection, so Load collects every loadGCEvery events: the process's peak stays near the
// catalogue's size plus that many rows, for a few percent more CPU.
func (d *Directory) Load(replay func(apply func(*event.Event) error) (int, error)) (int, error) {
	n := 0
	return replay(func(e *event.Event) error {
		if n++; n%loadGCEvery == 0 {
			runtime.GC()
		}
		return d.Apply(e)
	})
}
