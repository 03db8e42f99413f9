// Package ingest turns raw input into canonical events on JetStream.
//
// A Source (ingest/file: files, stdin and followed files; ingest/httpin: POST /v1/events;
// ingest/kafka: a consumer group; deploy.DemoSource: the simulator) reads raw records and hands
// them in batches to a Sink (as ingest/dlq does with replayed dead letters). A Batch names its
// source and carries the source's Format: the format is a property of the source, given to it when it is
// built (deploy.OpenSources builds the sources of `breachd run` from its flags). Canonical is
// the one parser of the canonical JSON Lines (shared/docs/events.md: event.Decode, validated
// by the Pipeline as event.Parse validates, plus an id derived from the content for an event
// without one); a nil Format reads with it, so every source, test or production, reads
// canonical JSON the same way. Other log formats
// (ingest/format: SimpleSAMLphp, Entra ID, ECS, YAML mappings) are Parsers or MultiParsers.
//
// The Pipeline is the Sink every source shares, built by NewPipeline (deploy and the tests
// alike): it reads each record with the batch's Format, validates it, optionally enriches it
// (ingest/geoip), publishes valid events on EVENTS — activity events on the partition subject
// of their account, directory events on breachd.events.directory (bus.Layout) — with the event
// id as Nats-Msg-Id (a hash of it when a header cannot carry the id verbatim: CR, LF,
// surrounding spaces), and publishes every rejected record, with its source, the reason and
// the original bytes, on the DEADLETTER stream. Submit returns only when every message of the
// batch has its PubAck, so a source advances its position (file offset, Kafka commit, HTTP 2xx)
// only after the durable hand-off. Its Result counts the outcomes and lists the refused
// records with their reasons (Result.Refusals), so a source that must tell someone why (the
// HTTP endpoint, `breachd dlq replay`) does not read a record a second time.
//
// Guarantees: at-least-once into JetStream; exactly-once per event id within the stream's
// duplicate window (a replayed file publishes the same ids and JetStream drops them). Nothing is
// dropped silently: a record is either an event on EVENTS, a dead letter on DEADLETTER, or the
// Submit call fails and the source must not advance.
//
// Validation is the same for every source and format: event.Validate (required fields, times
// history can store, identifiers without invalid UTF-8, U+FFFD or controls, which it also
// normalises: NFC, invisible characters removed, lower case), then the pipeline's own clock
// check: an event timed more than the future limit (WithFutureLimit, default 24 h) ahead of
// the injected clock is dead-lettered. Old events are never rejected for their age. Check (and
// CheckRecord, for any Sink or none) says what Submit would do with a record without
// publishing it, for `breachd dlq replay --dry-run`.
//
// A parser may say a record is not an event at all (ErrSkip: an IdP's debug line); such records
// are counted as skipped, not dead-lettered. Dead letters are listed, inspected and replayed
// with `breachd dlq`.
package ingest
