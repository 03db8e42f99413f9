// Package detect is the detector stage: it consumes canonical events from the EVENTS stream,
// keeps the directory catalogue current, evaluates the rules, writes the events to history and
// publishes alerts.
//
// Per fetched batch, in order: decode; apply directory events to the catalogue; evaluate every
// event against the rules (after its own directory change is applied); write the batch to
// history (retried with backoff); write and publish the alerts and wait for their PubAcks; only
// then ack the events. A batch that cannot be made durable is not acked and is redelivered.
//
// Delivery: at-least-once. A batch that is not durable within FlushTimeout is nak'd and comes
// back; its events are written again (history collapses them by id), but their catalogue
// changes and evaluations are not redone: the detector remembers the alerts of every event of
// such a batch until it is acked (bounded by the consumer's MaxAckPending), so a rule's
// suppression or window state, which has already seen the event, cannot swallow its alert or
// count it twice, and an old directory change cannot be re-applied over newer ones. An event
// redelivered for another reason (a lost ack, a restart, another detector on the same durable)
// is applied and evaluated again: its alerts keep their deterministic ids, so JetStream drops
// the copies of those already published, and sliding-window counts may count it twice, which
// errs towards alerting.
//
// Shutdown: when ctx is cancelled the batch in hand is finished (with its own bounded
// deadline) before Run returns nil, so nothing is acked that was not written.
//
// Not here (yet): partitioned subjects for several detectors; history lookups from rules.
package detect
