// Package console is breachd's web console: a small single-page application (plain ES modules,
// no build step) embedded in the binary with go:embed and served next to the HTTP API by the
// same server (api.Config.Console). It holds no data and no rights of its own: every page calls
// the JSON API (package api) with the signed-in session, so a page shows exactly what the
// user's roles and organisations allow, every history lookup is audited under the signed-in
// identity, and the CSRF token of /api/me goes with every change.
//
// Pages (client-side routes, each served the same shell, index.html):
//
//	/                      → /incidents
//	/signin                sign-in: local user and password, or the OpenID Connect provider
//	/incidents             live list (Server-Sent Events from /api/incidents/stream), filters
//	/incidents/{id}        timeline, steps 1–8, the 72-hour countdown, alerts, evidence,
//	                       deactivation, the Art. 33 draft (preview, download in nb or en)
//	/investigate           the breach procedure's lookups as forms, CSV and JSON export
//	/audit                 who looked up whose history, when and why
//	/rules                 loaded rules, hits per rule over time, lint/test, backtest
//	/register              the breach register (Art. 33(5)), export
//	/health                pipeline health: streams, consumer lag, dead letters, rates
//	/settings              language (bokmål or English) and the signed-in identity
//
// Security: pages are served with a strict Content-Security-Policy (scripts, styles, images
// and connections from the same origin only; no inline script or style, no eval, no framing).
// Everything the API returns is put into the page as text (DOM textContent), never as markup.
// Assets are served with an ETag and revalidated on every load (no-cache), so an upgrade is
// seen at the next reload.
//
// What it does not do: sign-in, sessions and permissions (package auth, through the API),
// server-side rendering of data, or any fetch from a CDN.
package console
