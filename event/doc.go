// Package event defines the records that travel between breachd's stages: the canonical event
// (shared/docs/events.md, v1) with the one parser every ingest path uses to turn a JSON object
// into a validated Event, the Alert a rule hit produces, and the Incident the notifier keeps.
//
// It is a leaf package: it imports nothing of ours, so ingest, detect, notify, history and the
// simulator can all share it. It does not publish, store or enrich anything.
//
// Parsing is strict about the contract (required fields, types, RFC 3339 times with an offset,
// enumerated values) and lenient about additions: unknown fields are ignored, so sources may send
// more than the contract asks for. Every rejection is an *InvalidError naming the field and the
// reason, so the caller can dead-letter the original bytes with that reason. Decoding has
// encoding/json's semantics (case-insensitive keys, the last duplicate wins, invalid UTF-8 as
// U+FFFD); for speed a hand-written decoder takes the inputs it can decode exactly as
// encoding/json does (what Marshal writes and most sources send) and leaves the rest, and
// every error, to encoding/json; FuzzDecodeFast checks the two agree. Marshal likewise writes
// encoding/json's bytes itself (FuzzMarshal), which content-derived ids depend on.
//
// Validate, which Parse and every other format's path through ingest end in, is also where
// identifiers are made canonical, once for the whole system: org, user, actor, subject,
// guardian and child are rejected when they hold bytes that are not UTF-8, U+FFFD (what
// encoding/json silently puts in place of such bytes) or control characters, and are otherwise
// rewritten by NormalizeAccount (invisible characters removed, trimmed, NFC, lower case). So
// "BreakGlass@x", "breakglass​@x" and "breakglass@x" are one account everywhere after
// ingest. Times are limited to what history can store (MinTime to MaxTime, 1900–2299 UTC);
// CheckFuture is the clock-dependent check the ingest pipeline adds.
package event
