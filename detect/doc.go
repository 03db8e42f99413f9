// Package detect is the detector stage: it consumes canonical events from the EVENTS stream,
// keeps the directory catalogue current, evaluates the rules, writes the events to history and
// publishes alerts.
//
// Per fetched batch, in order: decode; apply directory events to the catalogue; evaluate every
// event against the rules (after its own directory change is applied); write the batch to
// history (retried with backoff); write and publish the alerts and wait for their PubAcks; only
// then ack the events. A batch that cannot be made durable is not acked and is redelivered.
//
// Delivery: at-least-once. A redelivered event is written again (history collapses it by id),
// re-evaluated (its alerts keep their deterministic ids, so JetStream drops the copies), and
// re-applied to the catalogue (directory changes are idempotent upserts). Sliding-window counts
// may count a redelivered event twice; that errs towards alerting.
//
// Shutdown: when ctx is cancelled the batch in hand is finished (with its own bounded
// deadline) before Run returns nil, so nothing is acked that was not written.
//
// Not here (yet): partitioned subjects for several detectors; history lookups from rules.
package detect
