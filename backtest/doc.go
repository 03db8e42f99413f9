// Package backtest replays stored history through a rule set, offline, and reports what the
// rules would have raised: per rule the alerts (hits after exceptions and suppression), the
// hits suppressed or excepted, the distinct accounts, the first and last alert and a few
// examples, and the accounts that fired most. It is how a rule author sees what a new or
// changed rule does on real traffic before deploying it (`breachd rules backtest`).
//
// # What a run does
//
//  1. Rebuilds the directory from the stored directory events before From − Warmup (applied,
//     not evaluated), as a detector started then would have had it.
//  2. Warm-up: replays every event in [From − Warmup, From) through a fresh rules.Engine, so
//     sliding windows (and suppression) hold what a live detector would hold at From; the
//     alerts of this phase are discarded and its counts are not reported. AutoWarmup gives
//     the longest window of a set. Suppression periods longer than the warm-up start empty,
//     so a backtest can report an alert at its start that a live detector had suppressed.
//  3. Replays every event in [From, To) in (time, id) order, applying directory events to the
//     directory before evaluating them (as the detector does), and tallies the alerts.
//
// Rules' history lookups (newCountry, firstLogin, previousPerson) are answered by
// Options.Lookup, the same store, about the stretch before each event's own time, so the
// stored future never leaks into a past decision.
//
// Windows and suppression run on event time, so the same events give the same alerts as the
// live run, save for the order of events stored with the same millisecond (replayed by id,
// live in arrival order) and redeliveries (counted twice in a live window, once here).
//
// # What it does not do
//
// It is read-only: it never publishes alerts, never writes history, never touches incidents or
// deactivation. The store is read with readonly=1 (see history.Store.Replay). It is not
// audited: the audit requirement (design.md) covers an administrator's lookup of one person's
// history; a backtest is an aggregate over every account for rule quality. Its report does name
// the accounts that fired most (Options.Top), so treat it as personal data and use Top 0 when
// the names are not needed.
//
// # Bounds
//
// Events stream from the store chunk by chunk (history.ReplayOptions.ChunkRows rows at a time)
// and are not kept; memory is the directory, the engine's window state (bounded per rule, see
// rules.WithLimits) and the tally: at most MaxKeys (rule, account) pairs (default 1 000 000);
// beyond that new pairs are not tallied and Report.KeysTruncated says so. Run is
// single-threaded and blocks until done or ctx ends.
package backtest
