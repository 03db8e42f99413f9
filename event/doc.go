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
// reason, so the caller can dead-letter the original bytes with that reason.
package event
