package directory

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"breachd/event"
)

// How Apply keeps each kind of fact: the current version in the compact records (account,
// membership, relation), with the time of its latest assertion; a history (versions.go) only
// for a fact that has more than one version within the horizon (history.kept) or whose current
// state is a removal within the horizon (and coverGrace). A compact record keeps two bits of its
// history: that its value was asserted before its time too, when (history.held), and that the
// fact was first seen after its org's first snapshot, so absent before its single version
// (history.born, history.putFrom); a record both born and held keeps its version's first time
// aside (personFirst, memberFirst, relFirst), until it falls behind the horizon (recordFirst).
// So a school year's new groups cost no history. Each put* takes the common cases without
// building a history: a new fact (born when after its org's first snapshot), a change older
// than the horizon, the same value again at a later time, which moves the record's time forward
// and sets held (so that a re-sent snapshot costs nothing, or a first time aside), and the same
// value at an earlier time older than the horizon, which sets held — with the result the general
// path (single, putFrom, fold, store) would give.

// advance records t as applied and, every eighth of the horizon (at least an hour) of event
// time, folds every history.
// Callers hold the write lock.
func (d *Directory) advance(t stamp) {
	if t <= d.newest {
		return
	}
	d.newest = t
	if every := max(d.horizon/8, stamp(time.Hour/time.Second)); d.newest-d.swept >= every {
		d.sweep()
	}
}

// floor is the time before which versions fold (newest − horizon); with no horizon, every
// version but the latest folds.
func (d *Directory) floor() stamp {
	if d.horizon == 0 {
		return stampNow
	}
	return d.newest - min(d.newest, d.horizon)
}

// sweep folds every history and drops those left with nothing the compact record lacks.
func (d *Directory) sweep() {
	d.swept = d.newest
	floor := d.floor()
	for id, h := range d.personHist {
		d.unindexNINs(id, h)
		h.fold(floor)
		d.storePerson(id, h)
	}
	for k, h := range d.memberHist {
		h.fold(floor)
		d.storeMembership(k, h)
	}
	for k, h := range d.relHist {
		h.fold(floor)
		d.storeGuardianship(k, h)
	}
	for _, firsts := range []map[uint64]stamp{d.memberFirst, d.relFirst} {
		maps.DeleteFunc(firsts, func(_ uint64, first stamp) bool { return first < floor })
	}
	maps.DeleteFunc(d.personFirst, func(_ uint32, first stamp) bool { return first < floor })
}

// coverGrace is how long after an organisation's first directory event its facts count as
// having come with its first snapshot (doc.go): a snapshot's span.
const coverGrace = stamp(24 * time.Hour / time.Second)

// cover notes t as a directory event of org and returns the end of org's first snapshot: the
// time of its first directory event (the earliest applied) plus coverGrace. A fact first seen
// later was not held before it (bornLate).
func (d *Directory) cover(org string, t stamp) stamp {
	first, ok := d.orgFirst[org]
	if !ok || t < first {
		d.orgFirst[strings.Clone(org)], first = t, t
	}
	return first + min(coverGrace, stampNow-first)
}

// bornLate reports whether a fact first seen at t, within the horizon, is absent before t: it
// came after its organisation's first snapshot (cover). With no horizon, no fact is.
func (d *Directory) bornLate(t, cover stamp) bool {
	return d.horizon > 0 && t >= d.floor() && t > cover
}

// putPerson inserts the person version of e at t; cover is the end of its org's first snapshot.
func (d *Directory) putPerson(e *event.Event, t, cover stamp) {
	id := d.accountLocked(e.User)
	v := personValue{profile: d.profileOf(e), nin: e.NINHash}
	if e.HiddenIdentity {
		v.flags |= flagHidden
	}
	if e.IsActive() {
		v.flags |= flagActive
	}
	if realm := Realm(e.User); realm != "" && e.Org != "" {
		switch r := d.realms[realm]; {
		case r == nil:
			d.realms[strings.Clone(realm)] = &realmOrg{org: d.str(e.Org), at: t}
		case t >= r.at:
			if r.org != e.Org {
				r.org = d.str(e.Org)
			}
			r.at = t
		}
	}
	a := d.accounts.at(id)
	h := d.personHist[id]
	if h == nil {
		known := a.flags()&flagKnown != 0
		var cur personValue
		if known {
			cur = d.personOf(id, a)
		}
		held := a.flags()&flagHeld != 0
		first, born := recordFirst(d.personFirst, id, a.at, held, a.flags()&flagBorn != 0, d.floor())
		switch {
		case known && t >= a.at && cur == v:
			d.setPerson(id, v, t, held || t > a.at, born, first)
			return
		case !known && !d.bornLate(t, cover), known && t >= a.at && t < d.floor():
			d.setPerson(id, v, t, false, false, t)
			return
		case !known: // first seen after its org's first snapshot: none before t
			d.setPerson(id, v, t, false, true, t)
			return
		case t < a.at && cur == v && t < d.floor():
			d.setPerson(id, v, a.at, true, false, t)
			return
		default:
			h = single(cur, first, a.at)
		}
	} else {
		d.unindexNINs(id, h)
	}
	v.nin = strings.Clone(v.nin) // kept in h: not the event's memory
	h.putFrom(t, v, noPerson, cover)
	h.fold(d.floor())
	d.storePerson(id, h)
}

// storePerson sets account id's current person version from h and keeps h if it has older
// versions. Callers have unindexed h's NINs.
func (d *Directory) storePerson(id uint32, h *history[personValue]) {
	d.setPerson(id, h.current(), h.last, h.held(), h.born(noPerson), h.first())
	if !h.kept(noPerson) {
		delete(d.personHist, id)
		return
	}
	d.personHist[id] = h
	for i, v := range h.vs {
		if v.v.nin != "" && !slices.ContainsFunc(h.vs[:i], func(w version[personValue]) bool { return w.v.nin == v.v.nin }) {
			d.ninHist[v.v.nin] = append(d.ninHist[v.v.nin], id)
		}
	}
}

// unindexNINs removes account id from ninHist under the NINs of h's versions.
func (d *Directory) unindexNINs(id uint32, h *history[personValue]) {
	for _, v := range h.vs {
		ids := d.ninHist[v.v.nin]
		if i := slices.Index(ids, id); i >= 0 {
			if ids = slices.Delete(ids, i, i+1); len(ids) == 0 {
				delete(d.ninHist, v.v.nin)
			} else {
				d.ninHist[v.v.nin] = ids
			}
		}
	}
}

// personOf is the current person version of account a (known).
func (d *Directory) personOf(id uint32, a *account) personValue {
	return personValue{profile: a.profileID(), flags: a.flags() & (flagHidden | flagActive), nin: d.ninOf(id, a)}
}

// setPerson makes v, last asserted at t (and before, when held; none before first, when born),
// account id's current person version.
func (d *Directory) setPerson(id uint32, v personValue, t stamp, held, born bool, first stamp) {
	if v.profile >= maxProfiles {
		panic("directory: more than 16 M distinct person profiles")
	}
	a := d.accounts.at(id)
	if a.flags()&flagKnown == 0 {
		d.persons++
	}
	d.setNIN(id, v.nin)
	keepFirst(d.personFirst, id, first, held, born, a.flags()&(flagHeld|flagBorn) == flagHeld|flagBorn)
	f := a.flags()&(flagHexNIN|flagRawNIN) | flagKnown | v.flags
	if held {
		f |= flagHeld
	}
	if born {
		f |= flagBorn
	}
	a.meta, a.at = v.profile<<8|uint32(f), t
}

// find returns the position of group g in gs (sorted), or where it would be inserted.
func find(gs []membership, g uint32) (int, bool) {
	return slices.BinarySearchFunc(gs, g, func(m membership, g uint32) int { return cmp.Compare(m.group, g) })
}

func memberKey(id, g uint32) uint64 { return uint64(id)<<32 | uint64(g) }

// putMembership inserts the version attrs (absent: removed) of user's membership of group at t;
// cover is the end of its org's first snapshot.
func (d *Directory) putMembership(user, group string, attrs uint32, t, cover stamp) {
	keepRemoval := d.horizon > 0 && t >= d.floor() // a removal must be kept to be ordered
	var id, g uint32
	if attrs == absent && !keepRemoval {
		var ok bool
		if id, ok = d.account(user); !ok {
			return
		}
		if g, ok = d.groups.lookup(group); !ok {
			return
		}
	} else {
		id, g = d.accountLocked(user), d.groups.id(group)
	}
	k := memberKey(id, g)
	h := d.memberHist[k]
	if h == nil {
		a := d.accounts.at(id)
		i, ok := find(a.groups, g)
		var m membership
		var first stamp
		var born bool
		if ok {
			m = a.groups[i]
			first, born = recordFirst(d.memberFirst, k, m.at, m.held(), m.born(), d.floor())
		}
		switch {
		case !ok && attrs == absent && !keepRemoval:
			return
		case ok && t >= m.at && m.attrsID() == attrs:
			d.setMembership(id, g, attrs, t, m.held() || t > m.at, born, first)
			return
		case !ok && attrs != absent && !d.bornLate(t, cover), ok && t >= m.at && t < d.floor():
			d.setMembership(id, g, attrs, t, false, false, t)
			return
		case !ok && attrs != absent: // first seen after its org's first snapshot: absent before t
			d.setMembership(id, g, attrs, t, false, true, t)
			return
		case ok && t < m.at && m.attrsID() == attrs && t < d.floor():
			d.setMembership(id, g, attrs, m.at, true, false, t)
			return
		case ok:
			h = single(m.attrsID(), first, m.at)
		default:
			h = &history[uint32]{}
		}
	}
	h.putFrom(t, attrs, absent, cover)
	h.fold(d.floor())
	d.storeMembership(k, h)
}

// storeMembership sets the current version of membership k from h and keeps h while it has
// older versions, or is a removal within the horizon and coverGrace: so that an older add
// arriving late cannot undo the removal, and a later add finds it. (A later add that does not
// find it is later than its org's first snapshot, so bornLate: absent before it, as it was.)
func (d *Directory) storeMembership(k uint64, h *history[uint32]) {
	id, g := uint32(k>>32), uint32(k)
	d.setMembership(id, g, h.current(), h.last, h.held(), h.born(absent), h.first())
	floor := d.floor()
	keep := h.kept(absent) || h.current() == absent && d.horizon > 0 && h.last >= floor-min(floor, coverGrace)
	_, had := d.memberHist[k]
	switch {
	case keep && !had:
		d.memberHist[k] = h
		gs := d.histGroups[id]
		i, _ := slices.BinarySearch(gs, g)
		d.histGroups[id] = slices.Insert(gs, i, g)
	case !keep && had:
		delete(d.memberHist, k)
		gs := d.histGroups[id]
		if i, ok := slices.BinarySearch(gs, g); ok {
			gs = slices.Delete(gs, i, i+1)
		}
		if len(gs) == 0 {
			delete(d.histGroups, id)
		} else {
			d.histGroups[id] = gs
		}
	}
}

// setMembership makes attrs (absent: none), last asserted at t (and before, when held; absent
// before first, when born), the current version of account id's membership of group g.
func (d *Directory) setMembership(id, g, attrs uint32, t stamp, held, born bool, first stamp) {
	if attrs != absent && attrs >= bornAttrs {
		panic("directory: more than 1 G distinct membership attributes")
	}
	a := d.accounts.at(id)
	m := membership{group: g, attrs: attrs, at: t}
	if held {
		m.attrs |= heldAttrs
	}
	if born {
		m.attrs |= bornAttrs
	}
	i, ok := find(a.groups, g)
	keepFirst(d.memberFirst, memberKey(id, g), first, held, born && attrs != absent, ok && a.groups[i].held() && a.groups[i].born())
	switch {
	case ok && attrs == absent:
		a.groups = slices.Delete(a.groups, i, i+1)
		if len(a.groups) == 0 {
			a.groups = nil
		}
		d.members--
		if d.groupSize[g]--; d.groupSize[g] == 0 {
			d.nonEmpty--
		}
	case ok:
		a.groups[i] = m
	case attrs != absent:
		if int(g) >= len(d.groupSize) {
			d.groupSize = append(d.groupSize, make([]int32, int(g)+1-len(d.groupSize))...)
		}
		if d.groupSize[g]++; d.groupSize[g] == 1 {
			d.nonEmpty++
		}
		d.members++
		if len(a.groups) == cap(a.groups) { // grow by half: most accounts hold a handful of groups
			gs := make([]membership, len(a.groups), len(a.groups)+len(a.groups)/2+2)
			copy(gs, a.groups)
			a.groups = gs
		}
		a.groups = slices.Insert(a.groups, i, m)
	}
}

// putGuardianship inserts the version status of the guardian–child relation at t; cover is the
// end of its org's first snapshot.
func (d *Directory) putGuardianship(guardian, child string, status uint8, t, cover stamp) {
	k := uint64(d.guardians.id(guardian))<<32 | uint64(d.accountLocked(child))
	h := d.relHist[k]
	if h == nil {
		r, ok := d.relations[k]
		first, born := recordFirst(d.relFirst, k, r.at, r.held, r.born, d.floor())
		switch {
		case ok && t >= r.at && r.status == status:
			d.setRelation(k, relation{at: t, status: status, held: r.held || t > r.at, born: born}, first)
			return
		case !ok && !d.bornLate(t, cover), ok && t >= r.at && t < d.floor():
			d.setRelation(k, relation{at: t, status: status}, t)
			return
		case !ok: // first seen after its org's first snapshot: none before t
			d.setRelation(k, relation{at: t, status: status, born: true}, t)
			return
		case t < r.at && r.status == status && t < d.floor():
			d.setRelation(k, relation{at: r.at, status: status, held: true}, t)
			return
		default:
			h = single(r.status, first, r.at)
		}
	}
	h.putFrom(t, status, 0, cover)
	h.fold(d.floor())
	d.storeGuardianship(k, h)
}

// storeGuardianship sets the current version of relation k from h and keeps h while it has
// older versions.
func (d *Directory) storeGuardianship(k uint64, h *history[uint8]) {
	d.setRelation(k, relation{at: h.last, status: h.current(), held: h.held(), born: h.born(0)}, h.first())
	if !h.kept(0) {
		delete(d.relHist, k)
	} else {
		d.relHist[k] = h
	}
}

// setRelation makes r (none before first, when born) the current version of relation k.
func (d *Directory) setRelation(k uint64, r relation, first stamp) {
	old := d.relations[k]
	keepFirst(d.relFirst, k, first, r.held, r.born, old.held && old.born)
	d.relations[k] = r
}
