package rules

import (
	"sort"
	"time"
)

// Window and suppression state is kept per rule, keyed by the value of the rule's key
// expression, on event time. Both are bounded: keys whose newest event left the window (or
// whose suppression ran out a period ago) are swept once per window length of event time, and
// when a rule reaches its key cap a new key evicts the least recently seen of a sample of
// evictSample keys (approximate LRU, counted in RuleStats.Evictions). Per key, at most
// maxEntries counted events are kept; beyond that the oldest is dropped, so count saturates at
// maxEntries.

const evictSample = 8

// keyed is the bounded per-key state of one rule: a value per key, and last, a value's latest
// time (unix ns), by which keys are swept and evicted.
type keyed[V any] struct {
	keys      map[string]V
	last      func(V) int64
	newest    int64 // latest event time seen, unix ns
	swept     int64 // newest at the last sweep
	maxKeys   int
	evictions uint64
}

func newKeyed[V any](maxKeys int, last func(V) int64) keyed[V] {
	return keyed[V]{keys: make(map[string]V), last: last, maxKeys: maxKeys}
}

// see notes an event at now; once per period of event time it sweeps the keys whose latest
// time is a period or more before the newest event.
func (k *keyed[V]) see(now, period int64) {
	if now > k.newest {
		k.newest = now
	}
	if k.newest-k.swept >= period {
		k.sweep(period)
	}
}

func (k *keyed[V]) sweep(period int64) {
	cutoff := k.newest - period
	for key, v := range k.keys {
		if k.last(v) <= cutoff {
			delete(k.keys, key)
		}
	}
	k.swept = k.newest
}

// add stores v under a new key. At the key cap it sweeps first and, if that frees nothing,
// evicts the least recently seen of a sample of keys.
func (k *keyed[V]) add(key string, v V, period int64) {
	if len(k.keys) >= k.maxKeys {
		k.sweep(period)
		if len(k.keys) >= k.maxKeys {
			k.evict()
		}
	}
	k.keys[key] = v
}

func (k *keyed[V]) evict() {
	var victim string
	oldest, n := int64(0), 0
	for key, v := range k.keys { // map order is random: a sample
		if n == 0 || k.last(v) < oldest {
			victim, oldest = key, k.last(v)
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(k.keys, victim)
	k.evictions++
}

type windowState struct {
	keyed[*series]
	maxEntries int
}

// series holds the counted events of one key, oldest first, from head on.
type series struct {
	times    []int64
	vals     []string // parallel to times when the window counts distinct values
	head     int
	distinct map[string]int32
}

func newWindowState(maxKeys, maxEntries int) *windowState {
	return &windowState{keyed: newKeyed(maxKeys, (*series).last), maxEntries: maxEntries}
}

// observe updates key's series with an event at t (recorded when counted) and returns the
// aggregate over (t-over, t].
func (w *windowState) observe(key string, t time.Time, counted bool, val string, over time.Duration, distinct bool) Window {
	now, ov := t.UnixNano(), int64(over)
	w.see(now, ov)
	s := w.keys[key]
	if s == nil {
		if !counted {
			return Window{}
		}
		s = &series{}
		if distinct {
			s.distinct = make(map[string]int32)
		}
		w.add(key, s, ov)
	}
	s.expire(now - ov)
	if counted {
		s.insert(now, val, w.maxEntries)
	}
	if s.len() == 0 {
		delete(w.keys, key)
		return Window{}
	}
	return Window{Count: s.countUpTo(now), Distinct: len(s.distinct)}
}

func (s *series) len() int    { return len(s.times) - s.head }
func (s *series) last() int64 { return s.times[len(s.times)-1] }

// expire drops entries at or before cutoff.
func (s *series) expire(cutoff int64) {
	for s.head < len(s.times) && s.times[s.head] <= cutoff {
		s.popHead()
	}
	if s.head > 32 && s.head*2 > len(s.times) { // compact
		n := copy(s.times, s.times[s.head:])
		s.times = s.times[:n]
		if s.vals != nil {
			copy(s.vals, s.vals[s.head:])
			clear(s.vals[n:])
			s.vals = s.vals[:n]
		}
		s.head = 0
	}
}

func (s *series) popHead() {
	if s.distinct != nil {
		v := s.vals[s.head]
		if s.distinct[v]--; s.distinct[v] <= 0 {
			delete(s.distinct, v)
		}
		s.vals[s.head] = ""
	}
	s.head++
}

// insert records an event at t, keeping times ordered (a late event is inserted in place).
func (s *series) insert(t int64, val string, maxEntries int) {
	i := len(s.times)
	if i > s.head && t < s.times[i-1] {
		i = s.head + sort.Search(s.len(), func(j int) bool { return s.times[s.head+j] > t })
	}
	s.times = append(s.times, 0)
	copy(s.times[i+1:], s.times[i:])
	s.times[i] = t
	if s.distinct != nil {
		s.vals = append(s.vals, "")
		copy(s.vals[i+1:], s.vals[i:])
		s.vals[i] = val
		s.distinct[val]++
	}
	if s.len() > maxEntries {
		s.popHead()
	}
}

// countUpTo counts entries at or before t (all of them unless t is a late event).
func (s *series) countUpTo(t int64) int {
	if t >= s.last() {
		return s.len()
	}
	return sort.Search(s.len(), func(j int) bool { return s.times[s.head+j] > t })
}

// suppressState remembers, per suppression key, until when hits are folded and how many were.
// A key is swept a period after its suppression ran out.
type suppressState struct {
	keyed[*quiet]
	// restored holds the ids of the events whose alerts restore recorded: redelivered after a
	// restart, such an event alerts again rather than being folded into its own alert.
	restored map[string]struct{}
}

type quiet struct {
	until  int64 // unix ns
	folded int64 // hits folded since the last alert
}

func newSuppressState(maxKeys int) *suppressState {
	return &suppressState{keyed: newKeyed(maxKeys, func(q *quiet) int64 { return q.until })}
}

// hit records a hit for key on event id at t. It reports whether to suppress it and, when not,
// how many hits were folded since the key's previous alert. A folded count is carried to the
// next alert if that comes within one more period; a sweep drops it after that. An event whose
// alert was restored, evaluated again (redelivered after a restart), is not suppressed: it
// alerts again, with the same alert id, so an alert lost between history and the alert stream
// is published.
func (q *suppressState) hit(key, id string, t time.Time, period time.Duration) (suppressed bool, folded int64) {
	now, p := t.UnixNano(), int64(period)
	q.see(now, p)
	e := q.keys[key]
	if _, again := q.restored[id]; e != nil && now < e.until && !again {
		e.folded++
		return true, 0
	}
	if e == nil {
		e = &quiet{}
		q.add(key, e, p)
	}
	folded, e.folded, e.until = e.folded, 0, max(e.until, now+p)
	return false, folded
}

// restore records that an alert was raised for key on event id at t, as hit did when it was
// not suppressed: hits are folded until t+period, counted from 0. Hits folded into that alert
// need no restoring: they did not alert and did not move the suppression, which is anchored
// at the alert's event time.
func (q *suppressState) restore(key, id string, t time.Time, period time.Duration) {
	now, p := t.UnixNano(), int64(period)
	q.see(now, p)
	e := q.keys[key]
	if e == nil {
		e = &quiet{}
		q.add(key, e, p)
	}
	e.until = max(e.until, now+p)
	if q.restored == nil {
		q.restored = make(map[string]struct{})
	}
	q.restored[id] = struct{}{}
}
