// Package bus owns breachd's use of NATS JetStream: the embedded server of the all-in-one mode,
// connecting to a NATS cluster, the names and settings of the streams and key-value buckets,
// and a bounded asynchronous publisher.
//
// Streams (all file storage, replicas configurable for a cluster):
//
//	EVENTS      breachd.events.<kind>.<p>    auth and access events, p = partition of the account
//	            breachd.events.directory     directory events (unpartitioned); Nats-Msg-Id = event id
//	ALERTS      breachd.alerts.<severity>    rule hits; Nats-Msg-Id = alert id
//	DEADLETTER  breachd.dlq.<source>         rejected input with reason and original bytes
//	INCIDENTS   breachd.incidents.opened     every incident change, once per version: payload the
//	            breachd.incidents.updated    incident as JSON, Nats-Msg-Id <id>-v<version>, headers
//	                                         Breachd-Change (the kind), Breachd-Actor and more
//	                                         (notify.Incidents); for other systems and for the
//	                                         notifier's own announcers (durable "announce-*")
//
// and the key-value bucket "incidents" (incident state, compare-and-set on revision). Every
// incident change — from an alert, from the incident watcher (deadline warnings, evidence,
// deactivation state) or from a person through the CLI — goes through notify.Incidents, which
// publishes it on INCIDENTS after the compare-and-set; "opened" is the change an alert opened
// the incident with, "updated" every other one.
//
// Partitions (partition.go): an activity event's partition is FNV-1a 32 of its account mod the
// partition count, which Ensure records in the EVENTS stream's metadata and every process reads
// back (ReadLayout), so all events of one account are on one subject and one detector.
//
// Replicas (replicas.go): every JetStream context made here (NewJetStream, Connect) creates
// streams and buckets with the replicas asked for, scales an existing one up, never down (it
// keeps the higher count and warns), and turns the server's placement errors into ErrReplicas
// saying what to do (more than one replica on a server that is not clustered, or more than the
// cluster has servers).
//
// Store damage (damage.go, ahead.go): CheckStore, run on every start of a process running
// stages, finds messages lost from a damaged store (sequences missing inside EVENTS, ALERTS,
// INCIDENTS; the server's own loss reports; a stream ending below its recorded marks — of the
// same incarnation of the stream — or below what a consumer was delivered), logs them at Error,
// sets breach_bus_lost_messages and breach_bus_lost_unprocessed_messages, and returns a
// *LostError when events the detectors had not processed are lost, until a start accepts the
// loss (the re-ingest). It does not repair anything but a consumer left beyond the end of a
// stream whose tail was lost, which it moves back when no client uses it (no pinned client,
// no pull waiting, no delivery in the last minute). Damage while processes run (an external
// NATS server restarted on a damaged store) is not found by CheckStore until a process
// starts; EndsWatch, run by the processes of an external NATS, reports a consumer left beyond
// its stream's end meanwhile (breach_bus_consumers_beyond_end), but not the loss itself.
//
// Delivery: the publisher never reports success before JetStream's PubAck, and a PubAck that has
// not come within PubAckTimeout fails the publish (the stream leader may have died with the
// message). It does not retry on its own; callers decide (an ingest source stops reading, or
// publishes again while Unavailable says NATS is out of reach; a consumer leaves its message
// unacked).
// The embedded server listens on loopback only and admits only the users it is given
// (EmbeddedOptions.Users), each with its own publish and subscribe permissions; deploy decides
// who they are (deploy/natsperm.go).
package bus
