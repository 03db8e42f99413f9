// Package respond deactivates suspect accounts (step 1 of the breach procedure) through
// adapters, behind guard rails, and reactivates them (step 7) only on an explicit command.
//
// An Engine takes a Request for an incident's account and carries it through the states
//
//	requested ─► in_progress ─► done ─► reactivating ─► reactivated
//	                 │   ▲
//	                 ▼   │ (backoff)
//	              retrying ─► failed (permanent error, or MaxAttempts used)
//	refused             (allow-listed: never touched)
//	awaiting_approval   (over the organisation's cap) ─Approve─► requested
//	awaiting_approval, requested, retrying ─Cancel─► cancelled (a person withdrew it; final)
//
// Adapters: scim (SCIM 2.0 PATCH active=false), ldap (replace an attribute, by default
// OpenLDAP's pwdAccountLockedTime), webhook (signed POST), and DryRun (records, changes
// nothing; the demo default). Their errors are classified with package retry (Permanent,
// Transient with a Retry-After, StatusError for HTTP answers), as the notification channels'
// are.
//
// # State and exactly-once
//
// All state lives in the NATS KV bucket "responses" (EnsureBucket; layout at Bucket), so
// several notifier processes and restarts share it. There is at most one request per
// incident: it is created with kv.Create, and every later change is a compare-and-set on
// the key's revision. An engine takes a request by writing in_progress with itself as owner
// and a lease (Lease, default 2 min, on the injected clock); only the writer that wins that
// compare-and-set calls the adapter. So a redelivered alert, a second notifier or a
// restarted one never starts a second call while the first one's lease is live, and never
// calls again once done, failed or refused is recorded.
//
// The limit, stated plainly: if a process dies after the adapter call and before recording
// its outcome, the request stays in_progress until the lease expires, and then another
// engine (ProcessDue) calls the adapter again. That is why adapters must be idempotent
// (PATCH active=false, an LDAP replace and a webhook with an Idempotency-Key all are). A
// reactivation interrupted the same way is not repeated: the request goes back to done
// with an error and a human runs the command again.
//
// Request makes the first adapter call itself. Later attempts (after transient errors, with
// exponential backoff from MinBackoff to MaxBackoff less up to 20 % jitter, at least a
// server's Retry-After capped by MaxBackoff) and requests whose owner died are run by ProcessDue, which Run calls every
// PollInterval. Due times are decided on the injected clock, so tests move time instead of
// waiting; no goroutine sleeps through a backoff, and a retry survives a restart. A
// permanent error is never retried; after MaxAttempts (default 6) transient failures the
// request is failed.
//
// # Guard rails
//
// The allow-list (exact names and globs) is checked before anything else, and again at
// approval: a match is refused and no adapter is called. Entries and accounts are compared in
// event.NormalizeAccount form (lower case, NFC, invisible characters removed), so
// "BreakGlass@x", "break​glass@x" and an NFD "kåre@x" match the entries "breakglass@*"
// and "kåre@x". The cap is keyed on Target.Org, which the caller must take from the account's
// home organisation (the notifier's incidents carry the one the detector resolved from the
// directory), never from a field a log source controls. The cap counts the
// requests admitted per organisation in any 60 minutes (a sliding window kept in the bucket
// under compare-and-set, so it holds across processes; a fixed clock hour would allow twice
// the cap around the hour). A request beyond it waits in awaiting_approval until Approve;
// approved requests run regardless of the cap and are counted in the window. A request takes
// its slot once, however often it is redelivered. If a process dies between taking a slot
// and storing its request, the slot stays taken for its hour (errs on the side of fewer).
//
// Reactivate needs a done request, an actor, and either no missing procedure steps or Force
// with a Reason. The engine does not know the incident's lifecycle: the caller passes the
// steps it found not done.
//
// # Audit
//
// Every decision (request, refusal, hold, approval, cancellation, reactivation, including refused
// reactivations) is written to the Auditor before it is stored (a dry run's completion is
// respond.would_deactivate, not respond.deactivated, and its log lines say "would"); if that fails nothing is
// stored and the caller gets the error. Every adapter call is audited before it starts; if
// that fails the claim is given back and no call is made. Outcomes (results, done, failed)
// are audited after they are stored; an audit failure there is logged at Error and counted
// (breach_respond_audit_failures_total), the outcome stands.
//
// # Bounds
//
// One adapter call per request at a time, each bounded by CallTimeout (default 30 s) and
// the caller's ctx. A request keeps its last 20 attempts; texts are clipped to 500 bytes.
// ProcessDue handles at most 512 requests per pass, one after the other. The bucket drops a
// request 180 days (EnsureBucket's maxAge) after its last change, and with it the
// idempotency for that incident.
//
// # What it does not do
//
// No per-organisation configuration file format (the caller builds Options); no
// notification of people when a request is held or fails (the caller reads the states);
// one adapter per organisation (no fallback chain); no cancellation of a held request
// other than leaving it held.
//
// Metrics: breach_respond_requests_total{state}, breach_respond_adapter_calls_total{adapter,
// action,result}, breach_respond_adapter_call_duration_seconds{adapter,action},
// breach_respond_audit_failures_total.
package respond
