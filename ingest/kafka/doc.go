// Package kafka is the ingest Source for Apache Kafka (and Kafka-protocol brokers).
//
// A Source is one member of a consumer group (segmentio/kafka-go's Reader) over the configured
// topics. Each message value is one record for the Sink, read with Config.Format (canonical
// JSON by default), located as "kafka:<topic>/<partition>@<offset>" in dead letters. Keys and headers are not read.
//
// Delivery: at-least-once into JetStream, and exactly-once per event id within the EVENTS
// stream's duplicate window. The source fetches a batch (Batch records, or fewer when
// BatchWait has passed since the batch's first record), submits it, and only after Submit
// returned nil — every record has its PubAck — commits, per partition, the offset after the
// batch's last record. Batches are submitted and committed one at a time in fetch order, so a
// committed offset never passes a record that is not durable. Offsets are never committed
// automatically.
//
// Backpressure: the next batch is fetched while one is submitted, and no further. While the
// Sink refuses a batch (NATS down) or is slow, the source keeps that batch, resubmits it
// unchanged with backoff (RetryMin doubling to RetryMax) and commits nothing; at most one more
// batch and kafka-go's bounded queue (100 messages) wait behind it, so memory stays bounded
// by about two batches. Group membership is kept by heartbeats meanwhile. One attempt is
// bounded to a minute, so a PubAck lost with a server turns into a retry, not a stall.
//
// A commit the broker refuses is counted and retried, with the next batch's offsets or on its
// own with backoff while no batch comes; publishing goes on meanwhile.
//
// Redelivery happens, and is harmless because of the ids: a batch published but not committed
// when the process stops or dies (including one whose commit was still failing), and records of
// partitions that moved to another member in a rebalance are delivered again, and JetStream
// drops their events as duplicates (dead letters are deduplicated by source, location and
// bytes). A replay older than the duplicate window (24 h by default) stores events again.
//
// Shutdown: when ctx ends, Run abandons the batch in hand without committing it, closes the
// reader (leaving the group, so its partitions move at once) and returns nil. Run returns an
// error only when a configured topic does not exist at start or the brokers refuse the
// credentials or authorisation; other broker errors (unreachable brokers, leader changes,
// rebalances) are waited out and retried.
//
// Security: TLS (TLSConfig builds a client configuration from PEM files) and SASL PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512. SCRAM uses franz-go's client (standard library only);
// like Kafka's own Java client it does not apply SASLprep to the username or password.
// Credentials never appear in errors or logs.
//
// Limits: one Source consumes with one Reader and submits one batch at a time, so one process
// does not publish partitions in parallel; run more processes in the same group to scale.
// Topics must exist when Run starts (it fails naming the missing ones); partitions added later
// are picked up within about 5 s. MaxBytes bounds one fetch response. The lag metric is per
// partition, as of the last record fetched from it.
package kafka
