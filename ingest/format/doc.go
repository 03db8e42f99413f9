// Package format maps vendor log formats to canonical events (shared/docs/events.md). Each
// format is an ingest.Format (a Parser or a MultiParser) that a source is built with (the
// Format of file.Options, file.FollowOptions, kafka.Config, httpin.Config,
// dlq.ReplayOptions); Lookup finds the built-in ones by name.
//
// # Formats
//
//   - canonical: the contract's JSON Lines, ingest.Canonical (event.Decode, validated by the
//     pipeline like every format's events; an event with a missing, null or blank id gets
//     ingest.EventID("c", ev) instead of being rejected). It is
//     what a source without a format reads, so Lookup("canonical") is the same parser.
//   - simplesamlphp: log lines of SimpleSAMLphp, which Feide's IdP is built on. The header is
//     syslog's "Mon _2 15:04:05 host tag[pid]: LEVEL" (level 0-7), SimpleSAMLphp's file
//     handler's "Mon 2 15:04:05 PROCESS LEVELNAME", or an RFC 3339 timestamp (rsyslog's
//     high-precision format) followed by host and tag; then "[STAT ][TRACKID] message" (the
//     default logging.format; a custom one with %srcip or another order is not read).
//     Statistics lines of core:StatisticsWithAttribute, "<type> <SP entity id> <IdP entity
//     id> <attribute>" with type saml20-idp-SSO (also passive-, the -sp- and shib13 types),
//     become auth events: user = the attribute (configure attributename:
//     eduPersonPrincipalName), service = the SP's entity id, result success, method "sso"
//     ("passive" for passive requests). The "-first" twin of a line is skipped (it precedes
//     the plain line for the same login). "User 'x' successfully authenticated from IP",
//     which user/password sources write, becomes an event for the IdP itself only when
//     SimpleSAMLphpOptions.IdPService is set. SimpleSAMLphp logs failed logins only as
//     "Unsuccessful login attempt from IP." with no user name, so failures cannot become
//     auth events from this log: those lines, and every non-STAT line, are skipped.
//     Timestamps without year and offset are read in the configured zone (default
//     Europe/Oslo); the year is the latest in which the time is at most 7 days after the
//     reference clock (a December line read in January is last year's). In the hour the
//     clocks go back, a time without offset is ambiguous and Go picks one of the two.
//     Ids: ingest.ContentID("ssp", line).
//   - entra: Microsoft Entra ID sign-in logs, a Graph signIn object (JSON Lines from a Graph
//     or az export) or one Azure Monitor diagnostic record (category SignInLogs or
//     NonInteractiveUserSignInLogs, the sign-in under "properties"). Service principal and
//     managed identity sign-ins are skipped. user = userPrincipalName lower-cased; org = its
//     domain unless EntraOptions.Org is set; service = appId (else resourceId), service_name
//     = appDisplayName; result success only for status.errorCode 0, so interrupts such as
//     50140 ("keep me signed in") and 50074/50076 (MFA required) count as failures; method
//     from authenticationDetails: "sso" (every step previously satisfied), "mfa", "password".
//     Id: "entra-" + the sign-in's id. A {"records":[...]} batch of more than one record needs
//     EntraRecords, a MultiParser (see below).
//   - ecs: Elastic Common Schema documents from Filebeat or Elastic Agent, nested or with
//     dotted keys. Only event.category "authentication" is mapped (session ends are skipped);
//     result = event.outcome (success or failure, anything else is rejected); user =
//     user.email, or user.name (with "@" + user.domain when it has no realm); service =
//     service.target.name, url.domain, destination.domain, destination.address, service.name
//     or event.dataset, the first present; ip = source.ip or client.ip; country =
//     source.geo.country_iso_code. Id: "ecs-" + event.id, else ingest.EventID("ecs", ev).
//   - mappings (LoadMapping, ParseMapping): service-access logs of any JSON shape, described
//     in YAML, see below.
//
// # Ids and idempotence
//
// A record's id is the source's own id where it has one, so a replay publishes the same ids
// and JetStream's duplicate window drops them. Otherwise the id is a hash of the content:
// ContentID over the line's bytes (text formats; the trailing newline is not content), or
// EventID over the canonical fields of the event (JSON formats: key order, whitespace, the
// offset a time is written with, and fields the contract does not have make no difference).
// The price: two genuine events with the same content collapse into one. For SimpleSAMLphp
// that is the same user at the same SP within the same second and session track id; for a
// mapped log without ids, the same actor, action, subject and resource at the same instant
// (to the log's precision). Sources where that matters must log an id.
//
// # Records that are not events
//
// Parsers return ErrSkip (wrapped, with the reason) for records that are well formed but not
// events: debug lines, non-authentication ECS documents, mapping skip_if. Dead-lettering
// them would bury real rejects under an IdP's debug output, so the pipeline counts them as
// skipped instead (ingest.Result.Skipped, breach_ingest_records_skipped_total). Every
// real rejection is an *event.InvalidError naming the source field (userPrincipalName,
// event.outcome, actor.upn, ...), which the pipeline puts in the dead letter's reason.
//
// # Multi-event records
//
// ingest.Parser returns one event. An Azure Monitor {"records":[...]} batch holds many; the
// Entra parser accepts a batch of one and rejects larger ones with a reason pointing to
// EntraRecords, a MultiParser (an ingest.Format like the Parsers).
//
// # Mapping files
//
//	name: lms                    # 1-32 of [a-z0-9_-]; prefixes generated ids
//	kind: access                 # access or auth
//	skip_if: operation == "LOGIN" # optional expr; true skips the record
//	fields:                      # canonical field -> source; time, org and the kind's
//	  id:      {path: eventId}   # required fields must be present; id is optional
//	  time:    {path: ts, format: unix_ms}   # rfc3339 (default), unix, unix_ms, or a Go
//	                                         # layout with zone: Europe/Oslo
//	  actor:   {path: actor.upn}             # dotted path; numbers index arrays (targets.0.id)
//	  action:  {path: op, map: {READ: view, WRITE: update}}
//	  service: {value: https://lms.example.no/saml}        # constant
//	  records: {expr: len(targets)}          # github.com/expr-lang/expr over the record
//	  actor_role: {path: role, default: staff}  # default when absent, null or ""
//
// Each field has exactly one of path, value and expr, and optionally map (a value not in the
// map rejects the record, naming the source path) and default. The file is decoded strictly
// (unknown keys are errors); constants and map targets of enumerated fields (actor_role,
// action, resource, result) are checked against the contract when the file loads;
// expressions are compiled once. Errors name the line. Input records are single JSON
// objects nested at most 64 levels; integers keep every digit.
//
// All parsers are safe for concurrent use and keep no state between records.
package format
