// Package ingest turns raw input into canonical events on JetStream.
//
// A Source (ingest/file: files, stdin and followed files; ingest/httpin: POST /v1/events;
// ingest/kafka: a consumer group) reads raw records and hands them in batches to a Sink. The
// Pipeline is the Sink every source shares: it parses each record as a canonical event (package
// event), or with the Parser of another log format (ingest/format: SimpleSAMLphp, Entra ID,
// ECS, YAML mappings; WithParser, WithFormat), optionally enriches it (ingest/geoip), publishes valid events on EVENTS — activity events on the partition
// subject of their account, directory events on breachd.events.directory (bus.Layout) — with
// the event id as Nats-Msg-Id (a hash of it when a header cannot carry the id verbatim: CR, LF,
// surrounding spaces), and
// publishes every rejected record, with its source, the reason and the original bytes, on the
// DEADLETTER stream. Submit returns only when every message of the batch has its PubAck, so a
// source advances its position (file offset, Kafka commit, HTTP 2xx) only after the durable
// hand-off.
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
// the injected clock is dead-lettered. Old events are never rejected for their age. Check says
// what Submit would do with a record, for the HTTP endpoint's per-record reasons.
//
// A parser may say a record is not an event at all (ErrSkip: an IdP's debug line); such records
// are counted as skipped, not dead-lettered. Dead letters are listed, inspected and replayed
// with `breachd dlq`.
package ingest
