// Package notify is the notifier stage: it turns the detector's alerts into incidents, one open
// incident per suspect account, keeps them moving (the 72-hour clock, evidence, deactivation)
// and tells the rest of the system and people about every change.
//
// # One path for an incident change
//
// Incidents (incidents.go) is the one way to change an incident, used by the Notifier, the
// Watcher, the CLI and the API. Every change is: a compare-and-set on the incident in the KV
// bucket "incidents" (Store, key layout there; retried on a lost race), an upsert into the
// Mirror (history), and a publication on the INCIDENTS stream (breachd.incidents.opened for the
// change an alert opened the incident with, breachd.incidents.updated for every other; payload:
// the incident as JSON; Nats-Msg-Id: <incident id>-v<version>; headers Breachd-Change with the
// kind, Breachd-Actor, Breachd-Alert, Breachd-Mark) awaited until the PubAck. The lifecycle
// changes (lifecycle.go: Transition, Comment with a procedure step, Ack with the moment of
// awareness, SetReport, RecordEvidence, RecordDeactivation, MarkEscalated) are thin Ops on
// Incidents.Update, each appending to the timeline.
//
// For every alert on the ALERTS stream the Notifier (durable pull consumer "notify", explicit
// ack, at most 1024 unacked over all notifier processes, redelivery after 30 s without ack)
// finds the account's open incident and adds the alert to it, or opens a new incident (state
// "detected", awareness = opening time, reporting deadline = awareness + 72 h, GDPR Art. 33);
// files the deactivation request the alert's rule allows with its Responder (respond.Engine:
// guard rails, adapters, exactly once per incident; "dry-run" when the dry-run adapter handled
// it) and records the request's state as part of the alert's change; hands the change off as
// above; then acks the alert and waits for the server to confirm the ack.
//
// The Watcher (watch.go) passes over the open incidents every 30 s: it follows each
// deactivation request to its end, collects evidence from history on opening and when later
// alerts extend the incident (CollectEvidence: logins and data access, stored with the query
// and a SHA-256, audited under the incident id) and records the deadline warnings at the marks
// after awareness while not reported (one notifier wins each mark). It keeps the open
// incidents in memory from a watch on the bucket, so a pass costs the open incidents, not all
// incidents ever. report.go builds the draft Art. 33 notice (BuildReport, Markdown and JSON),
// rendered in English or Norwegian bokmål (MarkdownIn; report_markdown_nb.go has the words of
// Datatilsynet's form); register.go the breach register.
//
// Desk (ops.go) is where people work incidents, the operations of `breachd incidents` and of
// the HTTP API, one path each: List (ListRequest), Register, Show, Ack, Transition and Comment
// (their result: Changed), Evidence (with a new snapshot on request), Alerts (the incident's
// alerts with their events, an audited lookup of its account), Report (ReportRequest:
// store the given fields, build and write the Art. 33 notice), and Deactivate, Approve, Cancel
// and Reactivate through its respond engine (Desk.Respond) with the request's state mirrored
// into the incident (Deactivation). Each result renders itself for package output (a table or
// text for people, JSON). A Desk is held to its Scope (the organisations its caller may see):
// listings leave other organisations out, and their incidents are answered as missing ids.
// Store.List keeps what it read and reads only the changes since on its next call.
//
// # Announcements
//
// People and systems hear of changes through Sinks: the ConsoleSink, and one ChannelSink per
// notification channel (notify/channel: webhook, Slack/Teams, e-mail, NATS; routing,
// retries and deduplication there). Each Sink is fed by an Announcer, a durable pull consumer
// "announce-<sink>" on INCIDENTS, which turns each change into its Messages (opened, severity
// raised, deactivation requested, deadline warning, a state change made by a person; comments,
// evidence and breachd's own bookkeeping page nobody) and acks the change only after the sink
// took it. Several notifier processes share each announcer's consumer.
//
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
// and terminated. An alert older than the last 256 of a busy incident that is redelivered
// after them would be counted again (JetStream's own duplicate window on ALERTS drops
// re-published alerts before that).
//
// A change made by the Watcher or a person returns an error if its mirror upsert or
// publication fails after the compare-and-set: the change is stored but not published (the
// error says so); a crash at that point is the same. The changes that page people are
// repaired: while a deadline warning or a person's state change is still the incident's latest
// change, and younger than half the stream's duplicate window (12 h by default), each watcher
// pass publishes it again under the same Nats-Msg-Id until the server confirmed it, so it is on
// INCIDENTS once. Other such changes (comments, evidence, acknowledgement, report fields,
// deactivation state), or a repaired kind already followed by another change, stay
// unpublished; the next published change carries the incident's state.
//
// Announcements are durable and at least once: a change on INCIDENTS stays unacked on each
// announcer's consumer until its sink took it, is redelivered with a growing delay (1 s … 5 min)
// after a failure and 30 s after a crash of the process delivering it (a delivery in progress
// tells the server so every 10 s), and only a permanent failure (retry.IsPermanent: a
// rejected request, an invalid message) drops it, logged at Error and counted in
// breach_notify_sink_errors_total. Channels deduplicate by message key (the dedup bucket), so
// a change announced again pages once; a message another process is still sending is retried
// later rather than taken as sent. The console may print a line again after a crash.
// Announcers are created delivering the changes published from then on: a newly configured
// channel does not get the history.
//
// # Concurrency
//
// Run uses one goroutine: it pulls up to Batch alerts (default 8) and handles them one by one,
// each bounded by a 20 s deadline. Several notifier processes (or Notifiers) may share the
// durable: every incident write is a compare-and-set on the KV revision (retry.CAS), and a
// writer that loses re-reads and retries (at most 10 times, then the alert is redelivered), so concurrent alerts of one account
// end up in one incident with every alert counted once. Incident versions may then reach the
// Mirror out of order; it keeps the highest. On cancellation Run finishes the whole pull in hand
// (at most Batch alerts, each bounded) and returns nil. It does not nak them: a restarted
// nats-server (the embedded one restarts with breachd) does not keep its redelivery queue, so a
// nak'd alert would wait out AckWait (30 s) before anyone got it.
//
// An Announcer has up to 16 changes in hand at once (each bounded by 6 min, the channels'
// retries); on cancellation they get 5 s more, and what is unfinished is left unacked for
// redelivery. The Watcher's index follows the bucket in a goroutine of its own and resumes its
// watch after the last revision seen when the watch ends; a pass first waits until the index
// has caught up with the bucket, so it sees every change made before it.
//
// Bounds per incident: 1000 distinct subjects (then SubjectsTruncated), 256 recent alert ids,
// 20 timeline entries for alerts beyond the opening one (then TimelineOmitted counts), text
// clipped to 300 bytes.
package notify
