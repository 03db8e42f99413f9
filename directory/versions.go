package directory

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// stamp is a directory event's time in whole seconds since 2000-01-01 UTC: 4 bytes a fact.
// Times before 2000 count as 2000, times after 2136 as 2136; events of one fact within the same
// second are ties (the one applied later wins).
type stamp uint32

// stampNow stands for "the current state" in queries: it is later than every event's stamp.
const stampNow = stamp(math.MaxUint32)

var stampEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

func stampOf(t time.Time) stamp {
	s := t.Unix() - stampEpoch
	switch {
	case s < 0:
		return 0
	case s >= int64(stampNow):
		return stampNow - 1
	}
	return stamp(s)
}

// version is one value of a fact and the time of the event that set it.
type version[V comparable] struct {
	at stamp
	v  V
}

// history holds the versions of a fact that changed within the horizon (doc.go): sorted by
// time, consecutive versions differ in value, the last one is the current value. last is the
// latest time the current value was asserted (at or after its version's time): an event
// repeating a fact's value at a later time moves last forward instead of adding a version, so
// that a re-sent snapshot costs nothing.
type history[V comparable] struct {
	last stamp
	vs   []version[V]
}

// single returns the history of a fact kept only in its compact record: value v from first
// (recordFirst), last asserted at last. When the record is born, its none before first is not
// needed: putFrom puts it back (first is later than the cover).
func single[V comparable](v V, first, last stamp) *history[V] {
	return &history[V]{last: last, vs: []version[V]{{first, v}}}
}

// recordFirst returns what single needs of a compact record last asserted at last (held:
// before too; born: none before its first time, which firsts keeps under k when held): the
// first time of its value — last when not held, 0 (a time not kept, taken as the beginning)
// when held and not born — and whether it is born still: its first time is not before floor
// (a history keeps its none version only so long: fold).
func recordFirst[K comparable](firsts map[K]stamp, k K, last stamp, held, born bool, floor stamp) (stamp, bool) {
	first, ok := last, true
	if held && born {
		first, ok = firsts[k]
	}
	if born = born && ok && first >= floor; !born && held {
		first = 0
	}
	return first, born
}

// absentAt reports whether a compact record (as recordFirst's) is born and t is before its
// first time: none is in force at t.
func absentAt[K comparable](firsts map[K]stamp, k K, last stamp, held, born bool, floor, t stamp) bool {
	if !born || t >= last {
		return false
	}
	first, born := recordFirst(firsts, k, last, held, born, floor)
	return born && t < first
}

// keepFirst keeps first in firsts under k while a compact record needs it (born and held) and
// drops it when the record had needed it (had) and no longer does.
func keepFirst[K comparable](firsts map[K]stamp, k K, first stamp, held, born, had bool) {
	switch {
	case held && born:
		firsts[k] = first
	case had:
		delete(firsts, k)
	}
}

// held reports whether h's current value was asserted before its latest time too: what a
// compact record keeps of its history (single).
func (h *history[V]) held() bool { return h.vs[len(h.vs)-1].at < h.last }

// current returns the value with the latest time.
func (h *history[V]) current() V { return h.vs[len(h.vs)-1].v }

// at returns the value in force at t: that of the version with the greatest time ≤ t, or the
// earliest version's when all are later (a fact first seen at T is taken to have held before).
func (h *history[V]) at(t stamp) V {
	i, _ := slices.BinarySearchFunc(h.vs, t+1, func(x version[V], t stamp) int { return cmp.Compare(x.at, t) })
	return h.vs[max(i-1, 0)].v
}

// put inserts the version (t, v). A version at the same time as one already held replaces it
// (the event applied later wins); a value already in force at t adds nothing.
func (h *history[V]) put(t stamp, v V) {
	n := len(h.vs)
	if n == 0 {
		h.vs, h.last = []version[V]{{t, v}}, t
		return
	}
	cur := h.vs[n-1]
	switch {
	case t > h.last: // newer than all
		if cur.v != v {
			h.vs = append(h.vs, version[V]{t, v})
		}
		h.last = t
		return
	case t == h.last && t > cur.at: // ties with the current value's latest assertion
		if cur.v != v {
			h.vs = append(h.vs, version[V]{t, v})
		}
		return
	}
	i, found := slices.BinarySearchFunc(h.vs, t, func(x version[V], t stamp) int { return cmp.Compare(x.at, t) })
	switch {
	case found:
		if h.vs[i].v == v {
			return
		}
		if i == n-1 && h.last > cur.at { // the old value was asserted again at last
			h.vs = append(h.vs, version[V]{h.last, cur.v})
		}
		h.vs[i].v = v
		h.merge(i)
	case i == 0: // earlier than all
		if h.vs[0].v == v {
			h.vs[0].at = t
		} else {
			h.vs = slices.Insert(h.vs, 0, version[V]{t, v})
		}
	case h.vs[i-1].v == v: // already in force at t
	case i == n: // within the current value's span: it holds again from its latest assertion
		h.vs = append(h.vs, version[V]{t, v}, version[V]{h.last, cur.v})
	default:
		h.vs = slices.Insert(h.vs, i, version[V]{t, v})
		h.merge(i)
	}
}

// merge joins version i with an equal neighbour, keeping the earlier time.
func (h *history[V]) merge(i int) {
	if i+1 < len(h.vs) && h.vs[i+1].v == h.vs[i].v {
		h.vs = slices.Delete(h.vs, i+1, i+2)
	}
	if i > 0 && h.vs[i-1].v == h.vs[i].v {
		h.vs = slices.Delete(h.vs, i, i+1)
	}
}

// born reports whether h is a single version with none before it (putFrom): a compact record
// keeps that in a bit, and the version's time when held (recordFirst).
func (h *history[V]) born(none V) bool { return len(h.vs) == 2 && h.vs[0] == version[V]{0, none} }

// kept reports whether h holds more than a compact record can: more than one version, but for
// none before a single version (born). A single version is its value, its latest time and,
// when asserted earlier too, the held bit.
func (h *history[V]) kept(none V) bool { return len(h.vs) > 1 && !h.born(none) }

// first is the time of h's current version.
func (h *history[V]) first() stamp { return h.vs[len(h.vs)-1].at }

// putFrom is put under the first-snapshot rule (doc.go): a fact whose first version is later
// than cover (the end of its organisation's first snapshot) is absent (none) before it, which
// h says with a version none at time 0 — kept apart from the fact's own absent versions (a
// removal), which put could otherwise merge into it.
func (h *history[V]) putFrom(t stamp, v, none V, cover stamp) {
	if len(h.vs) > 1 && h.vs[0] == (version[V]{0, none}) {
		h.vs = h.vs[1:]
	}
	h.put(t, v)
	if h.vs[0].at > cover && h.vs[0].v != none {
		h.vs = slices.Insert(h.vs, 0, version[V]{0, none})
	}
}

// fold drops the versions before floor but the latest of them, which becomes the earliest.
func (h *history[V]) fold(floor stamp) {
	i, _ := slices.BinarySearchFunc(h.vs, floor, func(x version[V], t stamp) int { return cmp.Compare(x.at, t) })
	if i > 1 {
		h.vs = slices.Clone(h.vs[i-1:])
	}
}
