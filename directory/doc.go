// Package directory keeps an in-memory catalogue of the host organisations' users — persons,
// group memberships and guardian–child relations — built from canonical `directory` events
// (shared/docs/events.md), and answers the relation questions detection rules ask: does this
// teacher teach this pupil? is this guardian's relation to this child blocked? which other
// accounts carry the same NIN hash?
//
// Apply is the only writer. A directory event is applied as an upsert (op person), an add or
// remove (op membership) or a status change (op guardianship); events of other kinds are
// ignored. Apply is idempotent: replaying a snapshot or a redelivered event leaves the same
// state. Events are applied in the order given; the catalogue does not reorder by event time.
//
// What it deliberately does not do: it keeps no history (who was a member when — that is the
// history store's job, later), it does not persist or load snapshots, it does not consume NATS,
// and it does not validate events beyond what Apply needs (event.Parse has done that). NIN values
// are only ever the keyed hashes the sources send.
//
// HomeOrg answers which organisation an account belongs to (its person record, else its realm,
// mapped to the organisation the person records of that realm name), so that guard rails can
// key on it instead of on the org an activity event claims.
//
// Load rebuilds a catalogue from a replay of stored directory events (the detector's start),
// collecting garbage as it goes so that the process's peak stays near the catalogue's size.
//
// Memory: the catalogue is laid out for Feide's size (store.go): records in chunked slabs
// addressed by uint32 ids, repeated strings (groups, schools, orgs, affiliation lists) stored
// once, open-addressing indexes of ids, memberships of 8 bytes. A 1.3 M-person federation with
// 7.8 M memberships and 1.4 M guardianships takes about 390 MB of heap (BenchmarkCatalogue);
// rebuilt from history in a process with the embedded engine, about 860 MB peak RSS
// (history's TestDirectoryRebuildScale). Records are never removed: an account that loses its
// last membership and has no person event stays, answering as an unknown account does. Group
// names (and guardians, schools, orgs) are interned and never freed either: a group that loses
// its last member keeps its name. Feide's groups are renewed each school year (their names
// carry the year's dates), some 300 k new groups a year, tens of MB a year of a detector's
// uptime, which a restart does not give back, since its replay of history re-interns every
// group ever named.
//
// Concurrency: a Directory is safe for concurrent use. Queries take a read lock and may run in
// parallel with each other; Apply takes the write lock. Values returned (Person, Membership,
// slices) are copies or immutable, so callers may keep them.
package directory
