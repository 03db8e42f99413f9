package detect

import "time"

// SetMaxAhead sets how long the fetcher holds a batch ahead (maxAhead) for a test, before any
// detector runs; restore puts the default back once they have all returned.
func SetMaxAhead(d time.Duration) (restore func()) {
	old := maxAhead
	maxAhead = d
	return func() { maxAhead = old }
}
