package directory

import (
	"hash/maphash"
	"strings"
)

// The catalogue's storage is laid out for a directory of Feide's size (1.3 M persons, 8 M
// memberships, 1.4 M guardianships) in a few hundred MB: records live in chunked slabs of small
// structs addressed by uint32 ids (not pointer-free: an account holds its user name and its slice
// of 8-byte memberships, an interned string is one, so the collector scans the slabs, but finds a
// few pointers a record instead of one per field and per map entry), strings that repeat (groups,
// schools, orgs, affiliation lists) are stored once and referred to by id, and the indexes from a
// string to an id are open-addressing tables of ids (4 bytes a slot) that compare against the
// record instead of keeping a copy of the key.

// slab is an append-only sequence of T in fixed-size chunks: growing it never copies, and a
// pointer to an element stays valid.
type slab[T any] struct {
	chunks [][]T
	n      uint32
}

const slabChunk = 1 << 14

func (s *slab[T]) len() uint32 { return s.n }

func (s *slab[T]) at(i uint32) *T { return &s.chunks[i/slabChunk][i%slabChunk] }

// add appends v and returns its id.
func (s *slab[T]) add(v T) uint32 {
	if s.n%slabChunk == 0 {
		s.chunks = append(s.chunks, make([]T, 0, slabChunk))
	}
	c := &s.chunks[len(s.chunks)-1]
	*c = append(*c, v)
	s.n++
	return s.n - 1
}

// index maps keys to ids of records that hold the key: an open-addressing hash table with
// linear probing whose slots hold id+1 (0 is empty). Callers pass the key's hash and a match
// function that compares the key with a record's; the table keeps no keys, so growing needs
// hashOf(id). Several ids may share a key (lookupAll).
type index struct {
	slots []uint32
	n     int
}

func (x *index) home(h uint64) int { return int(h & uint64(len(x.slots)-1)) }

// lookup returns the first id whose record matches.
func (x *index) lookup(h uint64, match func(id uint32) bool) (uint32, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	mask := len(x.slots) - 1
	for i := x.home(h); x.slots[i] != 0; i = (i + 1) & mask {
		if id := x.slots[i] - 1; match(id) {
			return id, true
		}
	}
	return 0, false
}

// each calls fn with every id on h's probe run (a superset of the ids whose key hashes to h;
// fn must compare keys) until fn returns false.
func (x *index) each(h uint64, fn func(id uint32) bool) {
	if len(x.slots) == 0 {
		return
	}
	mask := len(x.slots) - 1
	for i := x.home(h); x.slots[i] != 0; i = (i + 1) & mask {
		if !fn(x.slots[i] - 1) {
			return
		}
	}
}

// insert adds id under hash h, growing the table (rehashing with hashOf) past 3/4 full.
func (x *index) insert(h uint64, id uint32, hashOf func(id uint32) uint64) {
	if 4*(x.n+1) > 3*len(x.slots) {
		old := x.slots
		x.slots = make([]uint32, max(16, 2*len(old)))
		for _, s := range old {
			if s != 0 {
				x.place(hashOf(s-1), s)
			}
		}
	}
	x.place(h, id+1)
	x.n++
}

func (x *index) place(h uint64, slot uint32) {
	mask := len(x.slots) - 1
	i := x.home(h)
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = slot
}

// remove deletes id (stored under hash h), shifting later entries of its run back so that
// lookups need no tombstones.
func (x *index) remove(h uint64, id uint32, hashOf func(id uint32) uint64) {
	if len(x.slots) == 0 {
		return
	}
	mask := len(x.slots) - 1
	i := x.home(h)
	for x.slots[i] != id+1 {
		if x.slots[i] == 0 {
			return
		}
		i = (i + 1) & mask
	}
	x.slots[i] = 0
	x.n--
	for j := (i + 1) & mask; x.slots[j] != 0; j = (j + 1) & mask {
		k := x.home(hashOf(x.slots[j] - 1))
		// Move slot j into the hole at i unless its home lies cyclically in (i, j].
		if (j > i && (k <= i || k > j)) || (j < i && k <= i && k > j) {
			x.slots[i], x.slots[j] = x.slots[j], 0
			i = j
		}
	}
}

// strTable interns strings: each distinct value is stored once and has a uint32 id.
type strTable struct {
	seed maphash.Seed
	vals slab[string]
	idx  index
}

func newStrTable(seed maphash.Seed) strTable { return strTable{seed: seed} }

func (t *strTable) hash(s string) uint64 { return maphash.String(t.seed, s) }

func (t *strTable) lookup(s string) (uint32, bool) {
	return t.idx.lookup(t.hash(s), func(id uint32) bool { return *t.vals.at(id) == s })
}

// id returns the id of s, storing a copy of s (not sharing the caller's memory) when new.
func (t *strTable) id(s string) uint32 {
	h := t.hash(s)
	if id, ok := t.idx.lookup(h, func(id uint32) bool { return *t.vals.at(id) == s }); ok {
		return id
	}
	id := t.vals.add(strings.Clone(s))
	t.idx.insert(h, id, func(id uint32) uint64 { return t.hash(*t.vals.at(id)) })
	return id
}

func (t *strTable) str(id uint32) string { return *t.vals.at(id) }

// interner gives ids to small sets of comparable values (profiles, membership attributes).
type interner[K comparable, V any] struct {
	ids  map[K]uint32
	vals []V
}

// id returns the id of k, calling stored for the key and value to keep when k is new: the key
// must not share memory with the caller's (an event's strings may pin a whole read buffer).
func (in *interner[K, V]) id(k K, stored func() (K, V)) uint32 {
	if id, ok := in.ids[k]; ok {
		return id
	}
	if in.ids == nil {
		in.ids = make(map[K]uint32)
	}
	id := uint32(len(in.vals))
	key, val := stored()
	in.vals = append(in.vals, val)
	in.ids[key] = id
	return id
}
