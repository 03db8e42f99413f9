// Package apiclient is the breachd CLI's client of the HTTP API (package api), so that people
// work with `--server URL` and a token instead of NATS and ClickHouse credentials, as amtool
// talks to Alertmanager.
//
// Client sends JSON over net/http with the token as "Authorization: Bearer", bounds every
// request by a timeout and turns the API's error body {"error":{"code","message"}} into an
// *Error. Rows reads a row result page by page (following the "next" cursor) into the
// output.Rows direct mode prints, so both modes print the same in every format. Desk and the
// history and dead-letter methods are the operations of `breachd incidents`, `history`,
// `rules backtest` and `dlq`, returning the types the direct path returns.
//
// It keeps no state between calls and retries nothing: a change that fails is reported, not
// repeated (the server's compare-and-set makes a repeat safe to try by hand).
package apiclient
