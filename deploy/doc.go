// Package deploy assembles breachd's stages into a running system: where NATS and ClickHouse
// come from (embedded in-process, or a NATS cluster and a ClickHouse server), stream and schema
// set-up, and which stages run in this process. `breachd run` (all-in-one), the separate stage
// commands and the integration tests all go through it, so they run the same pipeline.
//
// OpenSources builds the ingest inputs a SourceConfig describes (files, stdin, the demo,
// followed files, the HTTP endpoint, Kafka; each with its own log format) for
// PipelineConfig.Sources, as `breachd run` and the tests use them.
//
// Infra owns the connections and the embedded engines; Stages run on it. People's commands
// (`breachd history`, `migrate`, `rules backtest`, `dlq`, `incidents`) reach an instance through
// Attach: the NATS and ClickHouse named by flags, else the running instance of the data
// directory (its endpoint file), else the embedded engines opened on the data directory. Both
// open their Stores (NATS with JetStream, the history) through the same two functions
// (stores.go), and nothing else in breachd connects to NATS or opens the history.
// Attached.Desk builds the incidents desk (notify.Desk) of people's commands and the API over
// the attached stores. A process running stages (`breachd run`, `breachd detect`) starts
// through StartProcess: its Infra, metrics registry and metrics endpoint. CheckRules loads rules
// for a person checking them (RulesError lists every compile error in position order). Every long-lived part
// runs under one errgroup with Run(ctx) and is waited for on shutdown: the detector and notifier
// finish their batch in hand, the announcers give theirs a few seconds (the rest is redelivered),
// then the embedded ClickHouse endpoint and the embedded NATS server stop last.
//
// The API stage (StageAPI, api.go) serves package api behind package auth's sign-in in a process
// running stages (`breachd run`: on APIConfig.Listen, with the first start's admin, EnsureAdmin)
// or alone (Serve: `breachd serve`, over Attach). It reads the history with people's rights
// (Infra.PeopleHistory), keeps sessions in the NATS KV bucket "sessions" and stops with the
// other stages (requests in flight finish).
//
// The embedded nats-server admits only its users, one per role (natsperm.go: pipeline,
// operator, replay, admin), with the persistent credentials in NATSUsersFile (natsauth.go).
//
// A data directory belongs to one process: StartInfra locks it (LockDataDir, an flock on
// DataDir/breachd.lock) before it opens an embedded engine there and Close releases it last; a
// second process gets a *DataDirInUseError naming the holder's pid before it opens anything.
//
// The production configurations (NATS cluster, ClickHouse cluster, Kafka) are documented in
// deploy/README.md.
package deploy
