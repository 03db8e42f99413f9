package deploy

import (
	"slices"

	"breachd/auth"
	"breachd/bus"
	"breachd/notify/channel"
	"breachd/respond"
)

// Roles of the clients of the embedded nats-server. Each is a NATS user of that name with
// the permissions NATSPermissions lists; deploy/README.md ("NATS in production") gives the
// same lists for a NATS cluster of one's own.
const (
	// NATSPipeline is `breachd run` itself (ingest, detect, notify, respond stages): it
	// creates and updates the streams, consumers and buckets, publishes events, dead letters,
	// alerts, incidents and notifications, and consumes EVENTS, ALERTS and INCIDENTS (the
	// announcers of incident changes). Its password is made at every start and lives only in
	// that process.
	NATSPipeline = "pipeline"
	// NATSOperator is the CLI of a person on the same machine (`breachd dlq list|show|stats`,
	// `breachd dlq replay --dry-run`, `breachd incidents ...`): it reads stream infos and dead
	// letters, deletes single dead letters, reads and changes incidents and deactivation
	// requests (KV buckets), and publishes incident changes. It cannot publish events or dead
	// letters, create, change, purge or delete a stream, touch a consumer of the pipeline, or
	// read or write the API's sessions (a session holds a whole Principal: who may write one
	// may sign in as anyone).
	NATSOperator = "operator"
	// NATSAPI is `breachd serve` attached to a running instance: what the operator may, what
	// replay may (the API's dlq replay publishes events), the API's sessions and preferences
	// buckets (auth.BucketSessions, auth.BucketPrefs), which it may create, the consumer
	// lists of the pipeline's streams (GET /api/pipeline), and it subscribes to the incident
	// changes (the live incident stream; no JetStream consumer). Whoever holds it can mint an
	// API session of any user: its password is only in the 0600 files of the data directory.
	NATSAPI = "api"
	// NATSReplay is `breachd dlq replay` without --dry-run: it reads and deletes dead letters
	// and publishes what it replays as events (and letters rejected again as dead letters),
	// through the same ingest checks as any source. Whoever holds it can submit events.
	NATSReplay = "replay"
	// NATSAdmin may do anything, including what no other role may (natsAdminOnly): purge or
	// delete a stream, snapshot, restore, account and cluster administration. breachd itself
	// never uses it; it is in NATSUsersFile for a person with the `nats` CLI.
	NATSAdmin = "admin"
)

// jsAPI is the prefix of the JetStream API subjects.
const jsAPI = "$JS.API."

// natsAdminOnly are the publish subjects only NATSAdmin has. Every other role denies them,
// whatever its allow list says, so that a too wide allow pattern added later still cannot
// purge or delete a stream.
var natsAdminOnly = []string{
	jsAPI + "STREAM.DELETE.>", jsAPI + "STREAM.PURGE.>",
	jsAPI + "STREAM.SNAPSHOT.>", jsAPI + "STREAM.RESTORE.>",
	jsAPI + "STREAM.PEER.>", jsAPI + "STREAM.LEADER.>",
	jsAPI + "CONSUMER.PEER.>", jsAPI + "CONSUMER.LEADER.>",
	jsAPI + "ACCOUNT.>", jsAPI + "META.>", jsAPI + "SERVER.>",
	"$SYS.>",
}

// NATSPermissions returns the subjects role may publish and subscribe to on the embedded
// server; ok is false for NATSAdmin (unrestricted) and unknown roles. Every role subscribes
// to its own replies (bus.InboxPrefix(role).>); the pipeline and api roles also to the
// incident changes (liveStreamSubject).
func NATSPermissions(role string) (pub, sub bus.Subjects, ok bool) {
	var allow []string
	switch role {
	case NATSPipeline:
		allow = pipelineSubjects()
	case NATSOperator:
		allow = operatorSubjects()
	case NATSReplay:
		allow = replaySubjects()
	case NATSAPI:
		allow = append(operatorSubjects(), replaySubjects()...)
		allow = append(allow, jsAPI+"INFO") // account limits, read by nats.go before it creates a bucket
		// the API's sessions and people's preferences
		for _, b := range []string{auth.BucketSessions, auth.BucketPrefs} {
			allow = append(allow, kvSubjects(b)...)
			allow = append(allow, jsAPI+"STREAM.CREATE.KV_"+b, jsAPI+"STREAM.UPDATE.KV_"+b)
		}
		allow = append(allow, consumerListSubjects()...) // GET /api/pipeline
	default:
		return bus.Subjects{}, bus.Subjects{}, false
	}
	slices.Sort(allow)
	subs := []string{bus.InboxPrefix(role) + ".>"}
	if role == NATSPipeline || role == NATSAPI {
		subs = append(subs, liveStreamSubject) // the API's live incident stream (run's API stage, serve)
	}
	return bus.Subjects{Allow: slices.Compact(allow), Deny: natsAdminOnly}, bus.Subjects{Allow: subs}, true
}

// liveStreamSubject is what the API's live incident stream (api.Server.Run) subscribes to: the
// incident changes as they are published on INCIDENTS' subjects, read with a core
// subscription, so that the API needs no JetStream consumer (whose permissions would also
// reach the notifier's announcer durables on INCIDENTS).
const liveStreamSubject = bus.SubjectIncidents + ".>"

// operatorSubjects are what NATSOperator publishes to.
func operatorSubjects() []string {
	var allow []string
	for _, s := range []string{bus.StreamEvents, bus.StreamAlerts, bus.StreamDLQ, bus.StreamIncidents} {
		allow = append(allow, jsAPI+"STREAM.INFO."+s)
	}
	allow = append(allow, dlqSubjects()...)
	allow = append(allow, bus.SubjectIncidents+".>") // incident changes (incidents persist)
	allow = append(allow, kvSubjects(bus.BucketIncidents)...)
	return append(allow, kvSubjects(respond.Bucket)...) // incidents deactivate, approve, reactivate
}

// replaySubjects are what NATSReplay publishes to.
func replaySubjects() []string {
	return append(dlqSubjects(),
		jsAPI+"STREAM.INFO."+bus.StreamEvents, // the partition count (bus.ReadLayout)
		bus.SubjectEvents+".>", bus.SubjectDLQ+".>")
}

// pipelineSubjects are what the stages of `breachd run` publish to.
func pipelineSubjects() []string {
	allow := []string{
		bus.SubjectEvents + ".>", bus.SubjectDLQ + ".>", bus.SubjectAlerts + ".>",
		bus.SubjectIncidents + ".>", channel.SubjectNotifications + ".>",
		jsAPI + "INFO", // account limits, read by nats.go before it creates a bucket
	}
	streams := []string{bus.StreamEvents, bus.StreamAlerts, bus.StreamDLQ, bus.StreamIncidents, channel.StreamNotifications}
	for _, b := range []string{bus.BucketIncidents, respond.Bucket, channel.BucketNotifications, auth.BucketSessions, auth.BucketPrefs} {
		streams = append(streams, "KV_"+b)
		allow = append(allow, kvSubjects(b)...)
	}
	for _, s := range streams { // bus.Ensure, channel.EnsureStream, the EnsureBucket functions
		allow = append(allow, jsAPI+"STREAM.CREATE."+s, jsAPI+"STREAM.UPDATE."+s, jsAPI+"STREAM.INFO."+s, jsAPI+"STREAM.MSG.GET."+s)
	}
	// detector, notifier and announcer durables
	for _, s := range []string{bus.StreamEvents, bus.StreamAlerts, bus.StreamIncidents} {
		allow = append(allow, jsAPI+"CONSUMER.CREATE."+s+".>", jsAPI+"CONSUMER.INFO."+s+".*",
			jsAPI+"CONSUMER.MSG.NEXT."+s+".*", "$JS.ACK."+s+".>")
	}
	// A detector or notifier taking over resets its durable to the ack floor and gives the pin
	// up at a clean stop (detect/pin.go, notify); bus.CheckStore moves a durable beyond the end
	// of a stream whose tail was lost back.
	for _, s := range []string{bus.StreamEvents, bus.StreamAlerts, bus.StreamIncidents} {
		allow = append(allow, jsAPI+"CONSUMER.RESET."+s+".*")
	}
	for _, s := range []string{bus.StreamEvents, bus.StreamAlerts} {
		allow = append(allow, jsAPI+"CONSUMER.UNPIN."+s+".*")
	}
	allow = append(allow, consumerListSubjects()...)                     // a new detector durable starts after its siblings; the API's GET /api/pipeline
	return append(allow, jsAPI+"CONSUMER.DELETE."+bus.StreamEvents+".*") // the detector's warm-up consumer
}

// consumerListSubjects list the consumers of the pipeline's streams with their infos (lag,
// acks pending), for GET /api/pipeline; the stream infos are granted on their own.
func consumerListSubjects() []string {
	var allow []string
	for _, s := range []string{bus.StreamEvents, bus.StreamAlerts, bus.StreamIncidents, bus.StreamDLQ} {
		allow = append(allow, jsAPI+"CONSUMER.LIST."+s)
	}
	return allow
}

// dlqSubjects read dead letters with message gets and delete single ones (`breachd dlq`).
func dlqSubjects() []string {
	return []string{
		jsAPI + "STREAM.INFO." + bus.StreamDLQ,
		jsAPI + "STREAM.MSG.GET." + bus.StreamDLQ,
		jsAPI + "STREAM.MSG.DELETE." + bus.StreamDLQ,
	}
}

// kvSubjects read, write and watch bucket b: puts and deletes on $KV.b.>, the info and
// message gets of its stream (direct gets; plain ones for a bucket made without direct get),
// and the ordered consumers of watches and key lists with their flow control replies.
func kvSubjects(b string) []string {
	s := "KV_" + b
	return []string{
		"$KV." + b + ".>",
		jsAPI + "STREAM.INFO." + s,
		jsAPI + "DIRECT.GET." + s, jsAPI + "DIRECT.GET." + s + ".>", jsAPI + "STREAM.MSG.GET." + s,
		jsAPI + "CONSUMER.CREATE." + s + ".>", jsAPI + "CONSUMER.INFO." + s + ".*", jsAPI + "CONSUMER.DELETE." + s + ".*",
		"$JS.FC." + s + ".>",
	}
}

// natsUsers returns the users of the embedded server: every role of u with its permissions.
func natsUsers(u NATSUsers) []bus.User {
	out := []bus.User{{Credential: u.Admin, Admin: true}}
	for _, c := range []bus.Credential{u.Pipeline, u.Operator, u.Replay, u.API} {
		pub, sub, _ := NATSPermissions(c.User)
		out = append(out, bus.User{Credential: c, Publish: pub, Subscribe: sub})
	}
	return out
}
