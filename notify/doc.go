// Package notify is the notifier stage: it turns the detector's alerts into incidents, one open
// incident per suspect account, and tells the rest of the system and people about them.
//
// For every alert on the ALERTS stream the Notifier (durable pull consumer "notify", explicit
// ack, at most 1024 unacked over all notifier processes, redelivery after 30 s without ack):
//
//  1. finds the account's open incident in the KV bucket "incidents" and adds the alert to it,
//     or opens a new incident (state "detected", awareness = opening time, reporting deadline
//     = awareness + 72 h, GDPR Art. 33) — see Store for the key layout;
//  2. upserts the incident into the Mirror (history), if there is one;
//  3. publishes the change on breachd.incidents.opened or breachd.incidents.updated (payload:
//     the incident as JSON; Nats-Msg-Id: <incident id>-v<version the alert produced>) and
//     waits for the PubAck;
//  4. calls the Sinks (e.g. ConsoleSink) if that publication was new;
//  5. acks the alert and waits for the server to confirm the ack.
//
// An alert whose rule allows a response sets RespondRequested, and the Notifier files the
// deactivation request with its Responder (respond.Engine: guard rails, adapters, exactly once
// per incident) and records the request's state in the incident (Deactivation; "dry-run" when
// the dry-run adapter handled it: nothing changed, the incident is not contained). Sinks get
// the change: ConsoleSink prints it, ChannelSink queues it for the notification channels
// (notify/channel: webhook, Slack/Teams, e-mail, NATS; routing and deduplication there).
//
// # Lifecycle, clock, evidence, report
//
// lifecycle.go holds the changes people make (Store.Transition, Comment with a procedure
// step, Ack with the moment of awareness, SetReport), each a compare-and-set that appends to
// the timeline. The Watcher (watch.go) passes over the open incidents every 30 s: it follows
// each deactivation request to its end, collects evidence from history on opening and when
// later alerts extend the incident (CollectEvidence: logins and data access, stored with the
// query and a SHA-256, audited under the incident id), sends the deadline warnings at the
// marks after awareness while not reported (one notifier wins each mark), and announces the
// lifecycle changes people made. report.go builds the draft Art. 33 notice (BuildReport,
// Markdown and JSON); register.go the breach register.

// # Delivery guarantees
//
// Alerts come in at least once. Handling is idempotent by alert id: an incident remembers its
// last 256 alert ids (and its opening alert), and an alert it already holds is not counted
// again. An alert is acked only after the KV write, the mirror upsert and the PubAck of its
// change; if any of them fails it is nacked with a growing delay (0.5 s … 30 s) and retried
// without limit. A redelivered alert repeats the mirror upsert and the publication of the
// change it produced (the stream's duplicate window drops the copy), so a failure after the
// KV write is repaired by the redelivery. A change message carries the incident's state at
// publication, which after such a repair may be newer than the version in its Nats-Msg-Id.
// Bad payloads (not JSON, no id, org, account or rule, unknown severity) are logged at Error
// and terminated.
//
// Notifications are best-effort: a sink is called once per newly published change; a sink
// error is logged and counted and the alert is still acked; a crash between the publication
// and the sinks loses that notification. An alert older than the last 256 of a busy incident
// that is redelivered after them would be counted again (JetStream's own duplicate window on
// ALERTS drops re-published alerts before that).
//
// # Concurrency
//
// Run uses one goroutine: it pulls up to Batch alerts (default 8) and handles them one by one,
// each bounded by a 20 s deadline. Several notifier processes (or Notifiers) may share the durable: every
// incident write is a compare-and-set on the KV revision, and a writer that loses re-reads and
// retries (at most 10 times, then the alert is redelivered), so concurrent alerts of one account
// end up in one incident with every alert counted once. Incident versions may then reach the
// Mirror out of order; it keeps the highest. On cancellation Run finishes the whole pull in hand
// (at most Batch alerts, each bounded) and returns nil. It does not nak them: a restarted
// nats-server (the embedded one restarts with breachd) does not keep its redelivery queue, so a
// nak'd alert would wait out AckWait (30 s) before anyone got it.
//
// Bounds per incident: 1000 distinct subjects (then SubjectsTruncated), 256 recent alert ids,
// 20 timeline entries for alerts beyond the opening one (then TimelineOmitted counts), text
// clipped to 300 bytes.
package notify
