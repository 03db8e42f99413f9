// Package faulttest holds the fault tests of issue 15: breachd's stages split over several
// `breachd` processes against a three-node NATS cluster (each node its own process, so it can
// be killed with SIGKILL) with R3 streams, and a ClickHouse endpoint behind a proxy that can
// make it unreachable. Each scenario injects one fault mid-stream — the EVENTS leader's server
// killed, an active detector killed, a server restarted on its store, ClickHouse unreachable
// for 60 s — and then checks the results against a clean run of the same input: every event
// exactly once in history (counted without FINAL), every alert once, one incident per account,
// no deactivation requested twice, and the same alerts.
//
// The package has no code of its own outside its tests. The test process holds the embedded
// ClickHouse engine (one per process) and serves each scenario its own database on its own
// endpoint; it re-executes itself as the NATS nodes (TestMain, BREACHD_TEST_NATS_NODE) and
// builds the breachd binary it runs the stages with.
package faulttest
