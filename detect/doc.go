// Package detect is the detector stage: it consumes canonical events from the EVENTS stream,
// keeps the directory catalogue current, evaluates the rules, writes the events to history and
// publishes alerts.
//
// Per fetched batch, in order: decode; apply directory events to the catalogue; evaluate every
// event against the rules (after its own directory change is applied; the rules read the
// catalogue as of the event's time, directory.Directory.At, so an event processed after later
// directory changes — redelivered, shipped late, or after a restart whose rebuilt catalogue
// holds changes beyond this detector's position — is judged against the directory of its own
// time); write the batch to history (retried with backoff); write and publish the alerts and
// wait for their PubAcks; only then ack the events. A batch that cannot be made durable is not
// acked and is redelivered.
//
// Overlap: a fetcher goroutine fetches and decodes the next batch (decoding is pure) while
// Run's goroutine evaluates and makes durable the one in hand, and hands it over when that is
// done, so at most one batch is held ahead. Applying, evaluating, writing and acking stay on
// Run's goroutine, one batch after the other, in stream order. A batch closes when it is full
// or FetchWait after Run is free for it: as large as when the fetch followed the write, since
// an insert costs the engine much per batch, and no later.
//
// Home organisation: an alert's Org is the home organisation of its account as the catalogue
// knows it (Catalogue.HomeOrg: the person record, else the account's realm), not the org the
// event claims: that field is written by the log source, and incidents, the deactivation cap
// and the choice of adapter key on Org. A disagreeing claim is kept in Alert.ClaimedOrg, counted
// (breach_detect_org_mismatch_total) and logged at Warn. Only for an account with neither a
// person record nor a realm (a guardian's ID-porten id) does the event's org stand.
//
// Scale-out: a set of Members detectors shares the stream. Activity events are published on the
// partition of their account (bus.Layout: FNV-1a of the account mod the partition count the
// stream records); member i of n owns the partitions p with p mod n == i and consumes them and
// breachd.events.directory through its own durable, "detect-<i>-of-<n>" (multi-filter consumer,
// NATS ≥ 2.10; a set of one consumes the whole stream without a filter, which costs the server
// less per fetch, and a durable of a version that filtered is updated to that in place). So
// every event of an account reaches one detector, in stream order, and the rules' windows and
// suppression, kept per account, are complete there. Every member applies every directory
// event to its catalogue (all of them need the whole directory), but only the member owning a
// directory event's account evaluates it and stores it in history (toStore), so each event is
// evaluated once and stored once in the set (counted without FINAL). A member's catalogue,
// rebuilt from history on start, therefore holds the directory events every member has acked:
// up to the set's lowest ack floor (CatalogueFloor); the detector applies those above it from
// the stream before it evaluates anything (the tail, below). Events applied beyond its own
// position are answered as of each event's time, so they change nothing for the events before
// them.
//
// Failover (pin.go): any number of processes may run the same member; one is active and the
// others are hot standbys. The durable has one priority group with the pinned-client policy
// and PinnedTTL = FailoverAfter: the server delivers only to the client it pinned, and pins
// another once the pinned one has sent no request for FailoverAfter. A standby asks for one
// message at a time and meanwhile tails the directory events up to the durable's ack floor
// (tail.go), so its catalogue is current when it takes over. Taking over — also on every plain
// start — the detector reads the highest sequence the durable had delivered (the larger of the
// server's count and the mark kept in the durable's metadata before each reset, which lowers
// that count, so that two takeovers in a row still see what the first active was given), resets the
// durable to its ack floor (the previous active's pending deliveries come again at once and in
// stream order, before any later event, rather than after AckWait; the message that came with
// the pin is dropped unacked and comes again too), warms its windows up to the ack floor and
// consumes; every message up to that highest sequence is treated as maybe stored (history is
// asked what it holds), since after the reset delivery counts start again at 1. While it
// fetches nothing (Run busy, a batch held) a keep-alive request that can take no message
// (max_bytes 1) renews the pin; it is paced by the durable's PinnedTTL as the server has it,
// which the last process to start set. A waiting request that cannot take a redelivered
// message sends that message to the end of the server's redelivery queue — the keep-alive's,
// and a standby's unpinned one too — which only reorders batches this detector gave back
// (nak'd) after a failure, and those are harmless to reorder: their evaluations come from redo,
// not from the catalogue. A failed batch is given back only once the server has just answered
// that this detector holds the pin (a nak sent late, after a new active's reset, would deliver
// the message once more out of order). Before every history write it asks the server whether it still
// holds the pin. When the pin is lost (423 on a fetch or a keep-alive, messages stamped with
// another pin, or the check before a write), it stops at once: the batch in hand and the one
// ahead are dropped unacked (the next active's reset delivers them again, and its Unwritten
// check covers rows written meanwhile), the evaluator forgets its windows and suppression
// (Forgetter), and it stands by again with its catalogue, which the tail keeps current; a
// consumer-leader change in a cluster ends the same way. At a clean stop it gives the pin up,
// so a standby takes over at once. A standby stops within some 10 s of cancellation also while
// NATS cannot be reached: every read of its tail is bounded (tail.go, MaxResetAttempts).
//
// A new durable starts where the previous set stopped when the set is re-sized (see
// startPosition and deploy/README.md), else at the beginning of the stream.
//
// Warm-up: window state lives in memory. Before consuming, Run replays into the rules' windows
// (Warmer.Warm: no alerts, no suppression) the events of its partitions that its durable had
// already acked, from one longest window (by stream time) before the ack floor to the floor; the
// events above the floor come again through the durable. Restored: every sliding window, as far
// as events are stored in stream order of their event time (a stream-time span stands for the
// event-time window, so events ingested much later than their neighbours may be missed).
// Suppression is restored too, before the windows, from history rather than the stream: the
// alerts of the suppressing rules whose event time is within one longest suppression period
// before the ack floor's time (the earlier of its stream and event time), of the accounts this
// detector owns, each fed with its triggering event (read by id) to Restorer.Restore, which
// folds the rule's key until the alert's event time plus the period, as the alert did. So a hit
// that a run without the restart folds is folded after it too; an event whose alert was
// restored and that comes again (unacked) alerts again, with the same id. Not exact: the
// folded count an alert reports counts only hits folded since the restart, and alerts whose
// event has left history (retention) restore nothing. A restore that fails is logged, as a
// failed warm-up. Not restored: events acked above the ack floor
// while an earlier batch awaited redelivery (rare: after a history failure). Directory events
// are not re-applied: the catalogue is rebuilt from history by the caller (and kept current by
// the standby's tail up to the ack floor, from Options.CatalogueAt). A warm-up that fails is
// logged and the detector runs on with what it restored.
//
// Delivery: at-least-once. A batch that is not durable within FlushTimeout of its fetch is
// nak'd and comes back; its events are written again (history collapses them by id), but their
// catalogue changes and evaluations are not redone: the detector remembers the alerts of every
// event of such a batch until it is acked (bounded by the consumer's MaxAckPending), so a
// rule's suppression or window state, which has already seen the event, cannot swallow its
// alert or count it twice (re-applying its directory changes would change nothing but for two
// changes of one fact in the same second: the catalogue orders versions by event time).
// An event redelivered for another reason (a lost ack, a restart) is applied and evaluated
// again: its alerts keep their deterministic ids, so JetStream drops the copies of those
// already published, and sliding-window counts may count it twice, which errs towards alerting.
//
// A batch fetched ahead has not been evaluated when the batch before it fails, so that failure
// changes nothing for it: it is evaluated and written next, as a batch fetched right after the
// nak would have been (the nak'd one comes back after it, as it always did). Its FlushTimeout
// runs from when Run takes it, and the fetcher renews the ack deadlines (InProgress) of a
// batch it has held for maxAhead (20 s) while Run is busy, so that a batch is never
// redelivered (AckWait is FlushTimeout + 30 s) while held or in hand, stays before everything
// fetched later, and has its whole FlushTimeout (the rules' history lookups run within it).
//
// Shutdown: when ctx is cancelled the batch in hand is finished (within its deadline), and so is
// the batch fetched ahead, if any (the fetcher hands it over and stops fetching), and the pin
// is given up, before Run returns nil: nothing is acked that was not written, and nothing taken is left unsettled. Only
// when the batch in hand failed (history down) is the one ahead given back unevaluated instead
// of waiting out another FlushTimeout: once the fetcher has stopped (so no fetch can take it
// back), it is nak'd, so its events come again at once to the next detector on the durable
// (before the failed batch, whose nak has a 2 s delay, as after any failure). A nak that never
// reaches the server (a crash) leaves them to AckWait; nothing is lost either way.
package detect
