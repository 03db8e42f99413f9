// Package rules loads breachd's detection rules — YAML files of expr conditions — compiles them
// once against a typed environment, and evaluates them against canonical events with
// sliding-window aggregates, suppression and exceptions kept in memory.
//
// # Rule files
//
// A file holds a list under `rules:`. Decoding is strict: an unknown or repeated key, a missing
// required key or a bad value is a *CompileError naming the file, the rule and the line and
// column of the key or value. A file with one rule:
//
//	rules:
//	  - id: credential-stuffing          # required; [a-z0-9][a-z0-9._-]*, unique in the set
//	    title: Login succeeded after a burst of failures   # required
//	    description: ...                 # optional
//	    severity: critical               # required: low | medium | high | critical
//	    tags: [scenario:credential_stuffing, attack:T1110.004]
//	    when: [auth]                     # required: kinds the rule runs on (auth, access, directory)
//	    condition: event.Result == "success" && window.count >= 20   # required, bool
//	    window:                          # optional sliding window per key, on event time
//	      key: event.User                # string; events with an empty key are not counted
//	      count_if: event.Result == "failure"   # optional bool; default: every event of `when`
//	      distinct: event.IP             # optional string; window.distinct counts its values
//	      over: 10m                      # Go duration, at most MaxWindow
//	    suppress: {key: event.User, for: 1h}   # optional: one alert per key and period
//	    exceptions:                      # optional: hits whose field is one of values are dropped
//	      - {field: event.Actor, values: [break.glass@oslo.kommune.no], reason: emergency account}
//	    respond: deactivate              # or none (default): may the hit request deactivation
//	    summary: '"login for " + event.User'   # optional string expression; default: the title
//	    tests: [...]                     # fixtures, see RunTests
//
// Every expression (condition, summary, window key/count_if/distinct, suppress key, exception
// field) is compiled once, when the file is parsed, with expr.Env(Env{}) — see Env for the
// names a rule can use: event (the *event.Event, Go field names), actor and subject
// (directory Facts), window (count, distinct), the directory relations teaches,
// contactTeacherOf, guardianStatus, sameNIN, inGroup, groupRole and person (the Facts of any
// account), localHour() and localWeekday() in the engine's time zone, and the history lookups
// newCountry, firstLogin and previousPerson (see below). Leading conjuncts of
// the form `event.F == "x"` or `event.F in ["x", "y"]`, and keys that are a bare `event.F`, are
// also evaluated in Go, so a rule that does not apply to an event costs a few comparisons
// (with identical results). A type error or a misspelt name is a compile
// error positioned at the offending character in the YAML file (plain, quoted and block
// scalars alike). A rule that uses window without defining one is rejected.
//
// # Evaluation
//
// For an event, the engine runs the rules whose `when` includes the event's kind, in set
// order: it records the event in the rule's window (when the key is non-empty and count_if
// holds), then evaluates the condition with window.count and window.distinct over (event time
// - over, event time]; on a hit it applies the exceptions, then suppression (the first hit of
// a key raises an alert, later hits within `for` are folded into the next alert's Suppressed
// count), then evaluates the summary. Alert ids are event.AlertID(rule, event id): a
// redelivered event yields the same alert id (but is counted in windows again: at-least-once
// delivery can inflate a window count, never deflate it). Directory events are evaluated like the
// others, after the caller has applied them to the directory, so rules see the catalogue after the
// change. Every directory fact a rule reads (actor, subject, the relations) is the one in force at
// the event's time (directory.Directory.At), whatever the catalogue has applied since: a late or
// redelivered event is judged as it would have been on time. An expression failing at run time
// raises no alert, is counted in RuleStats.Errors and logged once per distinct message.
//
// # History lookups
//
// Three functions ask about the past of the current event's accounts, in the `days` days
// before the event's own time — [event time - days, event time), so the event itself is never
// part of its answer, and a replay or backtest asks what the live run asked:
//
//	newCountry(user, country, days)  true when user has no successful login from country
//	firstLogin(user, service, days)  true when user has no successful login to service
//	                                 (service "": no login at all)
//	previousPerson(user, days)       the latest directory person record of user in the
//	                                 event's realm: a PriorPerson (Found, Time, NINHash, HasNIN,
//	                                 HiddenIdentity, Affiliations, Active)
//
// days must be an integer literal in [1, MaxLookbackDays] (constant arithmetic such as 3*30
// is folded first); anything else is a compile error at the argument. An empty user or
// country gives false without asking. WithLookup gives the engine a Lookup (history.Store
// over ClickHouse in the pipeline; the fixture runner serves memory). Answers come from a
// bounded LRU cache or from one call to the Lookup with a hard timeout (LookupConfig,
// default 200 ms) under the context given to Evaluate (the compiler passes it to the functions
// with expr.WithContext; `ctx` is therefore a reserved name in expressions). A call that fails or times out gives the function's safe default — false,
// or a PriorPerson with Found false — which never raises an alert by itself in a rule written
// as "new" / "first" / "found and changed" (a negated use, !newCountry(...), turns it into a
// hit: do not). The failure is counted in RuleStats.LookupErrors and in
// breach_rules_lookups_total, logged once per change between failing and answering, and
// further calls are skipped (same default, same counters) for LookupConfig.Backoff, so a
// slow or unreachable history costs the detector at most one timeout per backoff period.
//
// Without a Lookup (WithLookup not given) rules using the functions still load and run; the
// functions give their defaults, each such rule is logged once (Warn) and every call is
// counted in LookupErrors. Failing at load was rejected: a Set is compiled without knowing
// the engine it will run in (rules lint, fixtures, several engines), and a detector without
// history must keep detecting with the other rules.
//
// The cache keeps, per question, the latest matching record known and the period the history
// was asked about, and every evaluated event is written through (a successful login, a person
// record) because the detector stores a batch in history only after evaluating it. As the
// engine sees all events of an account in order (the pipeline partitions by account), a
// record once found keeps answering "seen" while it is within `days`, and "nothing" is
// trusted for LookupConfig.Refresh (default 24 h) of event time past the question, then asked
// again (events the engine did not see, such as a late arrival, show then). In a new history
// every country and service is new until it holds `days` days: rules should combine a lookup
// with other conditions (the shipped ones do).
//
// # Fixtures
//
// Each rule carries `tests`, run by RunTests (by `breachd rules test` and by go test):
//
//	tests:
//	  - name: 20 failures then a success
//	    directory: [...]   # directory events applied first (kind defaults to directory)
//	    history: [...]     # events the history lookups see (kind required), not evaluated
//	    events:            # canonical events (events.md) as YAML maps, evaluated in order
//	      - {kind: auth, user: ola@ex.no, service: lms, result: failure, repeat: 20, every: 15s}
//	      - {kind: auth, user: ola@ex.no, service: lms, result: success}
//	    expect: 1          # alerts this rule raises over all the events
//
// Missing id, org and time are filled in (the first event at 2026-11-02 10:00 Oslo time, then
// one second apart; directory events a day earlier; history events from 30 days earlier, so
// they are "recent" unless given an older `time`); `after: 5m` sets the gap to the previous
// event, `repeat: N` emits an event N times `every` (default 1s) apart. Fixtures are validated
// with event.Parse when the file is parsed. The lookups of a fixture are served from memory:
// its `directory` and `history` events, and each of its events once evaluated, as the
// detector stores them; a lookup failure fails the test like an expression failure.
// RunTestsMatching runs the fixtures of the rules whose id matches; its TestReport, Lint (the
// warnings and total of rules that compile) and Listing (the rules as a table) render
// themselves for package output, for `breachd rules` and the API.
//
// # What it does not do (yet)
//
// The history is asked only the three questions above, never for arbitrary SQL; a window
// cannot correlate events of different kinds per account (its key would run in the VM for
// every event). It does not consume or publish events, apply directory events, or
// reload files itself: the detect stage does, and calls Engine.Swap with a freshly loaded Set
// (a set that fails to compile is never swapped in). Window and suppression state is in
// memory only; after a restart the detector rebuilds it: windows by replaying events through
// Engine.Warm, suppression from the alerts in history through Engine.Restore.
//
// # Concurrency and bounds
//
// A Set is immutable and may be shared. An Engine is safe for concurrent use but serialises
// Evaluate; run one Engine per partition of accounts for parallelism. Swap is atomic and keeps
// window state of rules whose id and window key persist. State per rule is bounded: keys are
// swept once the window (or suppression period) has passed on event time, at most maxKeys
// keys are kept (a new key then evicts the least recently seen of a small random sample) and
// at most maxEntries events per window key (count saturates there); see WithLimits. The
// lookup cache holds at most LookupConfig.Entries questions per engine. Lookups run inside
// Evaluate, under its lock, one at a time, each bounded by the lookup timeout and by
// Evaluate's context.
//
// The package embeds the time zone database (time/tzdata) so that localHour() does not
// depend on the host, and the default pack (rules/pack/*.yaml, see Default).
package rules
