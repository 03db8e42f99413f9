// Package httpin is the HTTP ingest source: clients POST canonical events to /v1/events and
// get an answer only after every record of the body is durable in JetStream, as an event or a
// dead letter.
//
// # Request
//
//	POST /v1/events
//	Authorization: Bearer <token>
//	Content-Type: application/x-ndjson | application/jsonl | application/json
//	Content-Encoding: gzip (optional)
//
// JSON Lines bodies: every non-blank line is one record. application/json bodies: a JSON array
// whose elements are the records, or a single JSON value (one record); any other application/json
// body is read as JSON Lines. A missing Content-Type is read as application/json. Other types
// and encodings get 415.
//
// Each configured token has a name; records are submitted under the source "http:<name>",
// which dead letters and metrics carry. Tokens are compared in constant time (hashes, every
// token). Without tokens New refuses to build a Server unless Config.Insecure is set.
//
// # Answers
//
//	200  every record was submitted: {"accepted":n,"rejected":n,"duplicates":n,"errors":[...]}.
//	     Rejected records are already stored on the DEADLETTER stream with their reasons, so a
//	     partial rejection is still 200; "errors" lists {"index","line","reason"} for the first
//	     MaxErrors of them (errors_truncated says there were more). A client should not resend
//	     a body for its rejected records: fix them and send those.
//	400  the body cannot be split into records (an application/json body starting with '[' that
//	     is not one JSON array, a broken gzip stream, an empty body). Unless empty, the body —
//	     its first MaxRecord bytes — is stored as one dead letter first; nothing else is lost.
//	401  missing or unknown token (WWW-Authenticate: Bearer).
//	408  the body did not arrive in time: not complete within BodyTimeout, or slower than
//	     MinBodyRate once BodyRateGrace has passed. The connection is closed; nothing is
//	     stored. Resend the body.
//	413  body larger than MaxBody (before or after gzip decoding) or more than MaxRecords
//	     records. Nothing is stored; split the body.
//	415  unsupported Content-Type or Content-Encoding. Nothing is stored.
//	429  more than MaxInFlight requests being served; Retry-After. Nothing is stored.
//	503  the event stream is not writable (Config.Ready fails, or Submit failed or timed out);
//	     Retry-After. Nothing is acknowledged, but part of the body may already be stored:
//	     resend the same body. Event ids make the resend idempotent (JetStream drops an id it
//	     holds within the duplicate window, and the second answer counts it in "duplicates"),
//	     and dead letters are keyed by the body's hash, so they are not doubled either.
//
// All records, valid or not, are submitted, read once by the Sink with Config.Format
// (canonical JSON by default), so the Sink's dead letters record source, reason, location
// ("body-<hash>:<line>" or "body-<hash>[<index>]") and the original bytes, and the reasons
// the client gets are the ones the Sink returned (ingest.Result.Refusals). A record longer than MaxRecord is cut to MaxRecord bytes and
// dead-lettered, as ingest/file does with long lines.
//
// # Limits
//
// Memory per request is bounded by about 2×MaxBody (the body as sent and decoded), and at
// most MaxInFlight requests are read at once. A request takes its in-flight slot before its
// body is read, so the body is read under deadlines of its own, set on the connection: it must
// be complete within BodyTimeout (default 60 s), and once BodyRateGrace (5 s) has passed it
// must keep arriving at MinBodyRate (1024 bytes/s) on average — every MinBodyRate bytes
// received buy one more second. A client trickling its body thus loses its own slot with 408
// within seconds, instead of keeping every other client at 429. The server sets
// ReadHeaderTimeout, ReadTimeout (requests on the other routes), WriteTimeout and IdleTimeout.
// GET /healthz is liveness, GET /readyz readiness (Config.Ready); neither says more than ok or
// not (the reason a check failed is logged, not served). TLS is not terminated here: put a
// reverse proxy in front when clients are not on a trusted network.
//
// Metrics: breach_httpin_requests_total{code}, breach_httpin_body_timeouts_total{reason}
// (timeout, too_slow), breach_httpin_records_total,
// breach_httpin_received_bytes_total, breach_httpin_request_duration_seconds,
// breach_httpin_in_flight_requests; per-source accepted/rejected/duplicate counts come from
// the ingest Pipeline.
package httpin
