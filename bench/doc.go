// Package bench measures breachd's throughput, CPU, memory and latency in one run and one
// process (`breachd bench`): raw JetStream publish-then-consume, the whole pipeline, and the
// latency from ingest to alert and to incident at a fixed offered rate.
//
// Run starts the infrastructure once (deploy.StartProcess: the embedded nats-server and
// ClickHouse engine on Config.Infra.DataDir, or the servers it names) and runs the phases on it
// in order:
//
//   - raw: the workload's events (the simulator's, in canonical JSON, written to a file before
//     anything is timed) are published to a scratch stream ScratchPrefix+<run tag> (file
//     storage, same server, EVENTS' duplicate window) with PublishAsync and a window of 4096,
//     each with its event id as Nats-Msg-Id as the pipeline's ingest publishes it (the
//     server's duplicate check is in both), then consumed by a pull consumer with an explicit
//     ack per message (counting distinct stream sequences). Events/s is events over publish
//     plus consume time. The stream is deleted afterwards, also when the phase fails.
//   - pipeline: the same events, read from the file by the file source as `breachd run
//     --exit-when-done FILE` reads it, through every stage but the API (deploy.RunPipeline:
//     ingest, detector with the rule pack and history writes, notifier, the console's
//     announcer). Timed from the first record handed to ingest until the detector, the notifier
//     and the announcer have processed everything in their streams (deploy.WaitIdle, polled
//     every 50 ms, twice). The pipeline's start-up is not timed: the phases begin once the
//     detector has a pull request waiting on its consumer (ConsumerInfo.NumWaiting, polled
//     every 50 ms), which it issues only after its warm-up replay of the stream; on a reused
//     data directory or external servers that replay can take seconds.
//   - latency: on the same pipeline, once it has caught up with the pipeline phase: a second
//     simulated workload, built in memory before it is timed, with probe breaches (Probe*
//     kinds, each on a fresh account, in turn) every 1/Probes seconds, offered to ingest in
//     batches about every 10 ms (Rate/100 events, 1 to 1000) at Rate events/s for Duration.
//     Its world is the simulator's with seed Seed+1 (so the pipeline phase's windows,
//     suppressions and open incidents are not its accounts'), over the days ending on the last
//     weekday before today; the pipeline phase's workload ends whole weeks earlier (on the
//     same weekday), before the feed's directory snapshot, so that events move forward in
//     time. t0 of an event is when its batch was due (the feed's start + k × the batch
//     interval), not when it was handed to ingest: when ingest falls behind, the wait to hand a batch over is part of the latency (no coordinated omission),
//     and the longest such wait is reported (handoff_late_max_ms). t1 is when its alert was
//     seen on the alert subjects, or when the incident its alert opened was seen on
//     breachd.incidents.opened (core NATS subscriptions of the bench's own connection). One
//     sample per alert id and per incident id whose event is in the feed; probe_alerts and
//     probe_incidents count the probes with an alert, and an incident, on their own events.
//
// CPU is getrusage(RUSAGE_SELF) over the phase: every thread of the process, the embedded
// engines' included. Peak RSS is VmHWM, reset at the phase's start by writing "5" to
// /proc/self/clear_refs; where that fails the process's peak is reported and its scope says so.
// The bench's own work is kept out where it can be: workloads are generated and encoded before
// the phases, the heap's garbage (the workload's generation, the raw payloads) is returned to
// the OS before each phase's peak is reset (debug.FreeOSMemory), and the latency phase's
// watcher only stores what it receives until the phase ends.
//
// Every event id of a run carries a random run tag, so runs never share ids (JetStream's
// duplicate window would drop them) and the probes' accounts are fresh. The phases stop the
// pipeline as soon as its stages have caught up, without the incident watcher's settling pass
// of --exit-when-done: on a reused data directory the probes' incidents stay open for later
// runs' watchers to pass over, so numbers to compare come from fresh engines. Against external
// servers the bench writes events, alerts and incidents like any pipeline: point it at a
// dedicated test NATS account and ClickHouse database. On the embedded server it connects as
// the admin of the data directory's NATS users (deploy.ReadNATSUsers): the pipeline's user may
// neither create the scratch stream nor subscribe to the alerts.
//
// What it does not do: keep or compare results (compare the JSON of runs), run stages in
// separate processes, or measure the HTTP and Kafka inputs (their `go test -bench` benchmarks
// in ingest do). One Run at a time per process: the embedded ClickHouse engine opens one data
// directory per process.
//
// # JSON fields (Report; stable)
//
//	version, started, cpus, gomaxprocs, nats, clickhouse ("embedded" or "external")
//	workload: orgs, days, seed, events, bytes
//	raw: events, bytes, publish_seconds, consume_seconds, seconds, events_per_second,
//	     publish_events_per_second, consume_events_per_second, cpu_us_per_event,
//	     cpu_user_seconds, cpu_system_seconds, peak_rss_bytes, peak_rss_scope ("phase" or
//	     "process"), stream, stream_deleted
//	pipeline: events, dead_lettered, duplicates, ingest_seconds, seconds, events_per_second,
//	     ratio_to_raw (0 without the raw phase), cpu_us_per_event, cpu_user_seconds,
//	     cpu_system_seconds, peak_rss_bytes, peak_rss_scope, alerts, incidents
//	latency: offered_events_per_second, seconds, events, probes, achieved_events_per_second,
//	     seed, handoff_late_max_ms, lag_events, lag_alerts, drain_seconds, kept_up,
//	     probe_alerts, probe_incidents,
//	     ingest_to_alert and ingest_to_incident: samples, p50_ms, p95_ms, p99_ms, max_ms
//
// A phase not run is absent. Percentiles are nearest-rank over the samples; with few samples
// p99 is the maximum, which is why the sample count is reported beside them.
package bench
