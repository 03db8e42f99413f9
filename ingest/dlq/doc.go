// Package dlq reads, summarises and replays the dead letters of the ingest pipeline.
//
// The ingest Pipeline (package ingest) publishes every record it rejects on the DEADLETTER
// stream, subject breachd.dlq.<source token>, with the original bytes as the payload and the
// headers Breachd-Source (the source name), Breachd-Reason (why) and Breachd-Where (e.g.
// "demo.jsonl:42"). This package is the read and repair side of that stream:
//
//   - List and Get read letters with JetStream message gets (one request per letter). They
//     create no consumer, acknowledge nothing and never change the stream, so they are safe
//     to run against a live system at any time. List reads at most the messages stored when
//     it starts, keeps at most Filter.Limit letters in memory, and honours its context.
//   - Stats counts letters by source and by reason group (ReasonKey) without keeping the bytes.
//   - Replay submits the original bytes of letters again through an ingest.Sink (normally an
//     ingest.Pipeline) under the letter's original source name and location, read with
//     ReplayOptions.Format (canonical JSON by default; a letter rejected because the wrong
//     --format was configured is replayed with the right one), one letter per Submit, and
//     reports for each letter whether it was accepted, rejected again, skipped or failed,
//     with the reason the sink gave (Result.Refusals: each letter is read once).
//     With Delete, a letter is removed from DEADLETTER only after the Submit that accepted it
//     returned nil, i.e. after its event is durably on EVENTS. Letters that were not accepted
//     are never deleted.
//   - ReplayLetters (ops.go) is a replay as people ask for it (ReplayRequest: sequence numbers
//     or all that a Filter selects), through an ingest.Pipeline built over the stream layout;
//     `breachd dlq replay` and the API call it. Listing, View, Summary and ReplayReport render
//     themselves for package output.
//
// Rejected again: the pipeline dead-letters the record again, with the Nats-Msg-Id
// "dlq-" + hash(source, location, bytes). A replayed letter keeps its source, location and
// bytes, so within the DEADLETTER stream's duplicate window (bus.Config.DuplicateWindow,
// default 24 h) JetStream drops the second copy: replaying a still-bad letter does not pile up
// letters. The stored letter keeps its original reason even when the new format rejected it
// for another reason; Replay reports the new reason. A letter
// older than the duplicate window that is rejected again is stored once more under a new
// sequence number; Outcome.NewCopy says when that happened, and the old copy stays.
//
// Ordering and time filters rely on the stream's stored timestamps increasing with the
// sequence number, which holds for a single JetStream server or cluster leader with a sane
// clock; a backwards clock step can make Since and Until miss letters at the boundary.
//
// Not here: retention (the stream's MaxAge, bus.Config.DLQMaxAge, expires letters), alerting
// on dead-letter rates (the ingest metrics breach_ingest_events_rejected_total do that), and editing
// a letter's bytes before replay (fix the source or the parser instead).
package dlq
