package rules

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/promreg"
)

// The lookup cache remembers, per question, the latest matching record known and the period
// the history was asked about, rather than a yes/no per day. Because the engine sees every
// event of an account in stream order (the pipeline partitions by account) and writes each
// evaluated event through (observeLookups), an entry stays exact as event time moves on:
//
//   - a record known at time t answers "found" for any later period [since, before) with
//     since <= t < before, without asking again (seen stays seen while it is in the period);
//   - "nothing in [from, to)" from the history, plus nothing written through since, answers
//     "nothing" for any [since, before) with from <= since, for up to Refresh of event time
//     past to; then the history is asked again.
//
// Anything else (a longer period than asked, an event older than what is known) is a miss.
// Entries are bounded by count and dropped least recently used first.

// lookupShape is the kind of question: which of a key's fields are set.
type lookupShape uint8

const (
	shapeCountry  lookupShape = iota // logins of user a from country c
	shapeService                     // logins of user a to service b
	shapeAnyLogin                    // any login of user a
	shapePerson                      // person records of user b in org a
	numShapes
)

type lookupKey struct {
	shape   lookupShape
	a, b, c string
}

// lookupAnswer is the latest matching record of a period, if any.
type lookupAnswer struct {
	found  bool
	at     time.Time
	person PriorPerson // shapePerson only
}

type lookupEntry struct {
	key      lookupKey
	last     lookupAnswer // the latest record known; found is false when none is
	checked  bool         // the history was asked about [from, to)
	from, to time.Time

	prev, next *lookupEntry // LRU list, most recent after the cache's root
}

// answer answers for [since, before) from what e knows; ok is false on a miss.
func (e *lookupEntry) answer(since, before time.Time, refresh time.Duration) (a lookupAnswer, ok bool) {
	if e.last.found && !e.last.at.Before(since) && e.last.at.Before(before) {
		return e.last, true
	}
	if e.checked && !e.from.After(since) && before.Sub(e.to) <= refresh &&
		(!e.last.found || e.last.at.Before(since)) {
		return lookupAnswer{}, true
	}
	return lookupAnswer{}, false
}

// asked records the history's answer a for [since, before).
func (e *lookupEntry) asked(since, before time.Time, a lookupAnswer) {
	e.checked, e.from, e.to = true, since, before
	e.keep(a)
}

// keep makes a the latest record known unless a later one is.
func (e *lookupEntry) keep(a lookupAnswer) {
	if a.found && (!e.last.found || !a.at.Before(e.last.at)) {
		e.last = a
	}
}

type lookupCache struct {
	m         map[lookupKey]*lookupEntry
	root      lookupEntry // sentinel: root.next is the most, root.prev the least recently used
	max       int
	evictions uint64
}

func newLookupCache(max int) *lookupCache {
	c := &lookupCache{m: make(map[lookupKey]*lookupEntry), max: max}
	c.root.next, c.root.prev = &c.root, &c.root
	return c
}

// get returns k's entry (nil when absent) and marks it recently used.
func (c *lookupCache) get(k lookupKey) *lookupEntry {
	e := c.m[k]
	if e != nil && c.root.next != e {
		c.unlink(e)
		c.pushFront(e)
	}
	return e
}

// add inserts an empty entry for k (absent), dropping the least recently used at the cap.
func (c *lookupCache) add(k lookupKey) *lookupEntry {
	if len(c.m) >= c.max {
		old := c.root.prev
		c.unlink(old)
		delete(c.m, old.key)
		c.evictions++
	}
	e := &lookupEntry{key: k}
	c.m[k] = e
	c.pushFront(e)
	return e
}

// record notes a record written through by the engine.
func (c *lookupCache) record(k lookupKey, a lookupAnswer) {
	e := c.get(k)
	if e == nil {
		e = c.add(k)
	}
	e.keep(a)
}

func (c *lookupCache) len() int { return len(c.m) }

func (c *lookupCache) unlink(e *lookupEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *lookupCache) pushFront(e *lookupEntry) {
	e.prev, e.next = &c.root, c.root.next
	c.root.next.prev = e
	c.root.next = e
}

// lookupMetrics are shared by the engines of a registerer.
type lookupMetrics struct {
	calls   *prometheus.CounterVec // by function and result
	seconds prometheus.Histogram
}

// newLookupMetrics registers the metrics with reg (nil: unregistered), reusing those an
// earlier engine registered.
func newLookupMetrics(reg prometheus.Registerer) (*lookupMetrics, error) {
	m := &lookupMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "breach_rules_lookups_total",
			Help: "History lookup function calls by function and result: cached, history (answered by the history store), " +
				"error, timeout, skipped (backing off after a failure), invalid; all but cached and history gave the safe default."},
			[]string{"function", "result"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "breach_rules_lookup_seconds",
			Help: "Time of history lookup calls that went to the history store.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 7)}),
	}
	if err := promreg.All(reg, promreg.Of(&m.calls), promreg.Of(&m.seconds)); err != nil {
		return nil, err
	}
	return m, nil
}
