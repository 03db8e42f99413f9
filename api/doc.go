// Package api is breachd's HTTP API: the JSON routes people, the CLI (--server) and the web
// console use to work incidents, look up history, tune rules and replay dead letters, behind
// the authentication of package auth and the permission matrix auth.Allowed (docs/access.md is
// the contract, docs/api.md the guide, openapi.yaml the schema served at /api/openapi.json).
//
// Every route calls the same function the CLI's direct mode calls (notify.Desk,
// history.Store.Lookup, backtest.Run, ingest/dlq), so both print the same result. A route
// first authenticates (401), then checks the action against the principal's roles (403), then
// validates its input (400, 413), and reads or changes data only inside the organisations the
// principal's roles give for the action (Principal.ScopeFor): another organisation's incident
// or account answers 404 exactly as a missing one does. Every lookup of personal data is
// audited with the signed-in identity before it is read; when the audit write fails, no data
// is returned (500 audit_failed). Errors are JSON {"error":{"code","message"}} with the stable
// codes of docs/api.md, and never carry internal details.
//
// What it does not do: sessions, sign-in and CSRF (package auth's middleware and /auth/*
// handlers, passed in as Config.Auth), TLS termination policy beyond Serve's optional
// certificate, and the console's pages. A Server is safe for concurrent use; it keeps no state
// of its own between requests except the respond engine, built once on first use, and the hub
// of the live incident stream.
//
// The live incident stream (GET /api/incidents/stream, stream.go) is Server-Sent Events from
// one core NATS subscription to the INCIDENTS subjects per Server, run by Server.Run (whose
// owner is the process's API stage). Delivery is at most once and from the moment a stream
// opens: a client that falls a buffer behind is disconnected, never waited for, every stream
// ends after Config.StreamMax or when the subscription may have missed a change (a NATS
// reconnect, the hub falling behind), and the client is expected to reload the list on every
// (re)connect.
package api
