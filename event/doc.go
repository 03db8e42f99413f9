// Package event defines breachd's canonical event (shared/docs/events.md, v1) and the one
// parser every ingest path uses to turn a JSON object into a validated Event.
//
// It is a leaf package: it imports nothing of ours, so ingest, detect, notify, history and the
// simulator can all share it. It does not publish, store or enrich events.
//
// Parsing is strict about the contract (required fields, types, RFC 3339 times with an offset,
// enumerated values) and lenient about additions: unknown fields are ignored, so sources may send
// more than the contract asks for. Every rejection is an *InvalidError naming the field and the
// reason, so the caller can dead-letter the original bytes with that reason.
package event
