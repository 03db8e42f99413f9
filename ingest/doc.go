// Package ingest turns raw input into canonical events on JetStream.
//
// A Source (ingest/file, and later HTTP and Kafka) reads raw records and hands them in batches
// to a Sink. The Pipeline is the Sink every source shares: it parses each record as a canonical
// event (package event), publishes valid events on EVENTS — activity events on the partition
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
// Not here: parsing of vendor log formats, enrichment, following growing files (later issues).
package ingest
