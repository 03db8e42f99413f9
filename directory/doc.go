// Package directory keeps an in-memory catalogue of the host organisations' users — persons,
// group memberships and guardian–child relations — built from canonical `directory` events
// (shared/docs/events.md), and answers the relation questions detection rules ask: does this
// teacher teach this pupil? is this guardian's relation to this child blocked? which other
// accounts carry the same NIN hash? — as of a time.
//
// # Facts and versions
//
// Each fact has versions stamped with the time of the directory event that stated them: a
// person record (an account's affiliations, primary affiliation, schools, org, NIN hash, hidden
// identity, active), a membership (account, group → go_type, role, contact teacher, school; or
// absent after a `remove`), a guardianship (guardian, child → status). Apply is the only
// writer: it inserts a version of the event's fact at the event's time; events of other kinds
// are ignored. Times are kept to whole seconds (the sub-second part is dropped, so that a time is
// 4 bytes): two versions of one fact within the same second, even milliseconds apart, are a tie,
// and the one applied later wins; an event in the same second as a change sees the change, even
// an event a few milliseconds before it. So for such a pair a rebuild (Load applies history in
// order of full event time: the later one wins) and a catalogue that applied them live in the
// other order (the earlier one wins) answer differently until either version is asserted again.
//
// Answers do not depend on the order events are applied in, nor on how often: applying an event
// again changes nothing, and a set of events applied in any order answers as of every time as if
// applied in time order — but for ties, which application order breaks (an event applied again
// after another version of its fact in the same second wins again), for repeats, and for an
// organisation's first snapshot applied after later facts of it (below). So a redelivered batch,
// a log shipped late, a catalogue rebuilt from history that already holds later events, or a
// standby that applied events ahead of the detector it replaces all give the same answers.
// Repeats: a value asserted again (a re-sent snapshot, stamped later or earlier) keeps no version
// of its own, so that a snapshot costs nothing; the fact keeps the time of the latest assertion
// of its current value and that it was asserted before. A change that arrives after repeats of the value it
// changed is taken to have held from its time until the latest repeat, and the value before it:
// exact when no repeat falls between the change and the latest one (a change reverted, a removal
// between the last two snapshots shipped late), otherwise the repeats between are forgotten, as is
// the value's first assertion when the change predates it. Events applied in time order — a rebuild
// from history, a stream without late directory events — and repeats of events already applied are
// exact.
//
// At(t) returns a View answering as of t: each fact's version with the greatest time ≤ t. When
// every version of a fact is later than t, it depends on whether the fact came with the start of
// the directory's coverage of its organisation (Event.Org; a person's and a guardianship's org
// are their events'): its first snapshot, the facts first seen within a day (coverGrace, a
// snapshot's span) of the org's first directory event. Those are taken to have held before they
// were first seen: a directory snapshot imported today must not make last month's backfilled
// accesses look like strangers', so a teacher's access before that registration is judged
// against it (and a guardianship first seen blocked was blocked before, too). A fact first seen
// later did not hold before its first version (a membership added at 14:00 did not exist at
// 08:00; a person first seen then is unknown before), so an access is judged the same whether
// it is processed before the fact arrives or after (a redelivery, a restart whose history holds
// the fact). Limits of the rule: an organisation's first event is the earliest applied, so if
// its first snapshot is applied after a later fact of it, that fact keeps its backward extension
// (a rebuild, in time order, does not); an access judged before its org's first snapshot arrives
// sees none of it, after it arrives the snapshot's facts; with no horizon the rule does not apply
// (every time is answered with the latest version), and beyond the horizon a fact's base answers.
// The Directory's own query methods, and HomeOrg and Stats, answer for the current state: each
// fact's latest version by time, not the last one applied.
//
// # Horizon
//
// Older versions are kept only for facts that changed, and only within a horizon (WithHorizon,
// DefaultHorizon 30 days; the detector's --directory-horizon): versions older than the newest
// directory event applied minus the horizon fold into the fact's base, keeping the latest of
// them. Answers as of times within the horizon are exact, for events that arrive less than the
// horizon late; before it, the base answers. A removal is kept (as an absent version) while it
// is within the horizon and a day (coverGrace) more, so that an older add arriving late cannot
// undo it and a later add finds it; beyond that the membership is forgotten, as with no horizon
// (an add then later than its org's first snapshot is absent before its time, as it was). An add
// older than the horizon of a membership whose removal was forgotten makes it a member again. With no
// horizon (0) each fact keeps only its latest version by time: an older event arriving late
// does not override a newer one, and every time is answered with the latest version.
//
// What it deliberately does not do: it keeps no versions beyond the horizon (who was a member
// when, further back, is the history store's job), it does not persist or load snapshots, it
// does not consume NATS, and it does not validate events beyond what Apply needs (event.Parse
// has done that). NIN values are only ever the keyed hashes the sources send.
//
// HomeOrg answers which organisation an account belongs to (its person record, else its realm,
// mapped to the organisation the latest person records of that realm name), so that guard
// rails can key on it instead of on the org an activity event claims.
//
// Load rebuilds a catalogue from a replay of stored directory events in event-time order (the
// detector's start), the same catalogue as applying them live, collecting garbage as it goes
// so that the process's peak stays near the catalogue's size.
//
// # Memory
//
// The catalogue is laid out for Feide's size (store.go): records in chunked slabs addressed by
// uint32 ids, repeated strings (groups, schools, orgs, affiliation lists) stored once,
// open-addressing indexes of ids, memberships of 12 bytes (group, attributes, time). A fact
// with a single version is its compact record alone, with the time of its latest assertion
// (4 bytes; an account's and a guardianship's fit in what was padding, a membership's are
// 4 bytes more than before versions). A 1.3 M-person federation with 7.8 M memberships and
// 1.4 M guardianships takes about 420 MB of heap (BenchmarkCatalogue; 390 MB before versions);
// a fact that changed within the horizon costs about 140 bytes more while it does (one
// membership in twenty changed: 470 MB). A fact first seen after its org's first snapshot keeps
// its absence before in a bit of its compact record: nothing more with a single assertion, about
// 40 bytes (its first time, kept aside) once asserted again, while its first version is within
// the horizon (a school year's new groups, one membership in two of the federation's added 200
// days after its first snapshot: 520 MB, and 660 MB once a snapshot re-sent a day later asserts
// them all again; 905 MB when their absence before was a version). A value asserted again,
// later or earlier, keeps no version. Rebuilt from history in a process with the embedded
// engine, about 855 MB peak RSS, as before versions (history's TestDirectoryRebuildScale). Records
// are never removed: an account that loses its last membership and has no person event stays,
// answering as an unknown account does. Group names (and guardians, schools, orgs) are interned
// and never freed either: a group that loses its last member keeps its name. Feide's groups are
// renewed each school year (their names carry the year's dates), some 300 k new groups a year,
// tens of MB a year of a detector's uptime, which a restart does not give back, since its
// replay of history re-interns every group ever named.
//
// Concurrency: a Directory is safe for concurrent use. Queries take a read lock and may run in
// parallel with each other; Apply takes the write lock. Values returned (Person, Membership,
// slices) are copies or immutable, so callers may keep them.
package directory
