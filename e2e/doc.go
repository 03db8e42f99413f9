// Package e2e holds the console's browser tests: headless Chromium (Debian's chromium, driven
// with chromedp) against one in-process `breachd run --demo` instance per test binary — the
// embedded NATS and ClickHouse, every stage, the HTTP API with the console on 127.0.0.1:0.
//
// The tests sign in as the people of docs/access.md (SOC, a municipality's org-admin, a DPO,
// a rule author), work through the console's pages by the ids the pages keep stable for them
// and check what a person would see: the live incident list, the investigation and its CSV
// export, the backtest chart, the audit view; that forged, expired and signed-out sessions go
// to sign-in, that a change without the CSRF token is refused, that markup in data renders as
// text, that download names carry no path; and axe-core's accessibility rules on every main
// page (no serious or critical violation). Every page of every test also fails its test
// when it opens a JavaScript dialog or logs an uncaught exception or a Content-Security-Policy
// violation.
//
// The server allows 10 sign-ins a minute from one address and 5 per user: each user signs in
// once through the sign-in page and the other pages of the test binary reuse that session
// (tests that end or age a session make their own).
//
// They need /usr/bin/chromium (or BREACHD_CHROMIUM) and axe-core's axe.min.js in
// ${XDG_CACHE_HOME:-~/.cache}/breachd/axe-core-<version>/ (or BREACHD_AXE): scripts/setup.sh
// installs both, and a test fails, naming it, when one is missing. The package has no code
// of its own: only tests.
//
// On failure a test keeps a full-page screenshot (PNG) and the page's console log in
// $BREACHD_TEST_ARTIFACTS/<test> (default <temp dir>/breachd-browser-artifacts/<test>) and
// logs the path. BREACHD_SCREENSHOT=docs/console-incidents.png with -run TestScreenshot
// writes the README's screenshot of the incidents page (1280×800).
//
// The embedded ClickHouse engine may signal its process group when it stops: run the tests
// in their own session, `setsid go test ./e2e/`.
package e2e
