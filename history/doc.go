// Package history is breachd's store of record in ClickHouse: events, alerts, incidents (a
// mirror of the NATS state) and the audit log. It speaks only through clickhouse-go/v2, to a
// ClickHouse server or cluster (native protocol, clickhouse://) or to the embedded engine
// (package history/chdb, served over loopback HTTP, http://).
//
// Schema: versioned migrations (Migrate) of plain ClickHouse SQL that runs unchanged on a server
// and on the embedded engine. Event tables are ReplacingMergeTree sorted by account, time and
// event id. Retention is a TTL per table (Retention, ApplyRetention; `breachd migrate
// --retention`).
//
// A ClickHouse cluster (cluster.go, `breachd migrate --cluster`): Cluster derives from the same
// migrations, statement by statement, the cluster's schema — Replicated local tables and a
// Distributed table under each of breachd's names, sharded so the copies of a row share a shard
// (Cluster.Migrations, WriteScript) — and MaintainCluster applies it ON CLUSTER, with retention
// changes on the local tables. Migrate and the single-node retention refuse a cluster's history
// rather than run single-node DDL on its Distributed tables.
//
// Writing: Store.WriteEvents inserts one batch per table and returns only when ClickHouse has
// accepted it; callers ack their input after that. No row is stored twice: a writer whose batch
// may have been written before (redelivered after a crash between insert and ack, or retried
// after an error) writes only what Unwritten / UnwrittenAlerts say is missing (see dedup.go). A
// row that still arrives twice (two publishers of one id, beyond JetStream's duplicate window)
// collapses on merge, and the queries that must count exactly read with FINAL (or collapse the
// copies themselves). Reading: Store.SQL runs operator queries with
// readonly=1 and row/time limits.
//
// The admin questions of a breach (Logins, Access, Subject, Timeline: steps 3 and 4 of the
// procedure) take an Asker and write an audit row before they read anything; a lookup that cannot
// be audited returns no data. Subject finds a person's rows in access_events (sorted by actor)
// through a bloom filter index on subject. LastLogin and LastPerson answer the rules' history
// lookups; Replay streams stored events in time order for backtests.
//
// The operations people ask for by name (ops.go), one path for the CLI and the HTTP API, each
// returning a result that package output renders: Lookup (one of the four audited lookups by
// name, LookupRequest), AuditedSQL (a read-only statement written to the audit log first) and
// Maintain (migrations, retention changes and the retention now, MigrateRequest).
//
// Scope (scope.go): Lookup holds a lookup to the asker's organisations (LookupRequest.Scope).
// The account must be in them — by its realm, or for an account without one (a guardian) by a
// directory or login record under one of them — else ErrNotInScope, and the refused attempt is
// audited (<action>.refused); in scope, every query also reads only rows of those
// organisations (a server-side Array parameter). AccountAlerts (alerts.go: an account's alerts
// with the events behind them, for an incident's page) is held to its scope and audited the
// same way (history.alerts). Audit rows carry the asker's identity
// (issuer, subject, roles) and the target's organisation, which AuditLog filters on. RuleHits
// counts alerts per rule and time bucket, without accounts.
//
// Concurrency: a Store is safe for concurrent use (clickhouse-go pools connections).
package history
