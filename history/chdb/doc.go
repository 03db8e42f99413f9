// Package chdb embeds ClickHouse in breachd: it loads chDB (ClickHouse
// 26.5 built as a shared library, npm package @chdb/lib-linux-x64-gnu) at
// run time and serves it to clickhouse-go over a loopback-only,
// ClickHouse-compatible HTTP endpoint, so the history code has one SQL
// dialect and one client path whether it talks to a real ClickHouse
// (native protocol) or to this embedded engine.
//
// # Engine
//
// Open dlopens libchdb.so with purego (no cgo; CGO_ENABLED=0 builds work)
// and boots the engine on a data directory. DefaultLibPath says where the
// library is expected; scripts/setup.sh fetches it. The engine boots with
// its caches (marks, primary index, skip-index marks, query conditions)
// bounded to what breachd's tables need, not ClickHouse's server sizes of
// gigabytes: it shares its process with the pipeline. Engine.Query and
// Engine.Do run one statement each. Every statement gets a fresh chDB
// connection to the same data directory, i.e. its own session: SET, USE
// and temporary tables never leak into the next statement, exactly like
// ClickHouse's HTTP interface without session_id. Per-statement settings,
// server-side {name:Type} parameters (bound by chDB, never spliced into
// SQL), read-only mode and a context deadline (as max_execution_time) are
// applied to that session.
//
// # Server
//
// Server speaks enough of ClickHouse's HTTP interface for clickhouse-go's
// HTTP protocol (queries, PrepareBatch inserts, Ping, errors as
// *clickhouse.Exception) and for people with curl: GET /?query=... (run
// read-only, as ClickHouse does), POST with the query in the body or in
// the URL with data in the body, default format TabSeparated, param_*,
// settings as URL parameters, database, GET /ping. Credentials are
// required and accepted as Basic auth, X-ClickHouse-User/Key headers or
// user/password parameters.
//
// # Users and the statement guard
//
// Each User has a role (roles.go): an Owner runs anything and is accepted
// only on connections made with Server.DialInProcess; others may append to
// the tables their Insert lists and otherwise only read. Their statements
// pass the guard (guard.go, authorize.go): ClickHouse's own parser, run in
// the engine (formatQuerySingleLine, EXPLAIN AST), decides what a statement
// is; one query is allowed, without INTO OUTFILE/FROM INFILE, host-reaching
// table or scalar functions, or tables outside the endpoint's database; its
// canonical text then runs with readonly=1 set last and only output and
// limit settings from the client. Interactive users (people) get
// Options.People limits inside the engine and wait behind pipeline
// statements (lock.go). Every refusal is logged at Warn with the user. Errors are answered with a non-200 status, the
// body "Code: N. DB::Exception: ..." and X-ClickHouse-Exception-Code.
//
// Protocol details that make clickhouse-go work: it sends every query as a
// POST with default_format=Native and client_protocol_version=54460, opens
// each connection with "SELECT displayName(), version(), revision(),
// timezone()", and decodes later Native responses at the revision returned
// there. chDB only writes Native at revision 0, so the Server answers that
// query itself, laid out for the client's revision but announcing revision
// 0, and passes every later result through unchanged. Batch inserts arrive
// as "INSERT ... FORMAT Native" with a Native body.
//
// Compression: request bodies may use Content-Encoding gzip, deflate, br or
// zstd; responses are HTTP-compressed only with enable_http_compression=1;
// clickhouse-go's LZ4/ZSTD options (ClickHouse block compression,
// compress=1/decompress=1) are supported too. On loopback, leave
// clickhouse-go's Compression unset: it is fastest.
//
// # What it deliberately is not
//
// Not a production ClickHouse server: it binds loopback addresses only
// (NewServer refuses others), has no grants of its own (roles are fixed
// in code), no TLS, no sessions
// (session_id is ignored: each request is its own session), no external
// tables, no progress headers and no streaming: a result is built in
// memory and then sent, so bound large reads with LIMIT or
// max_result_rows/max_result_bytes. Production points clickhouse-go at a
// real ClickHouse instead.
//
// # Concurrency and delivery
//
// Engine and Server are safe for concurrent use, but statements run one at
// a time: chDB cannot run concurrent queries on one connection
// (parameterised ones fail with "Substitution ... is not set"), so Engine
// serialises every call. Callers queue; the wait ends with the context,
// and Server answers 503 beyond Options.MaxInFlight requests. A running
// statement cannot be interrupted from outside; the context deadline
// becomes its max_execution_time. A nil error from an INSERT (HTTP 200)
// means the rows are in MergeTree parts on disk, with ClickHouse's
// defaults (no fsync unless fsync_after_insert=1); there is no buffering
// in this package.
//
// # chDB quirks handled here
//
//   - Data sent inline after "INSERT ... FORMAT x" is cut at the first
//     "\n\n" without an error and the rest is run as SQL. Insert data is
//     therefore always staged in a file (Engine: <dataDir>/breachd-staging,
//     Server: Options.TempDir) and inserted with INSERT ... FROM INFILE.
//   - chdb_connect resets the Go runtime's handlers for SIGSEGV, SIGBUS,
//     SIGFPE, SIGILL, SIGTRAP, SIGABRT and SIGSYS (or, with its own signal
//     handling enabled, installs a crash handler that hangs for minutes on a
//     Go nil dereference). The Engine disables chDB's handlers and restores
//     the runtime's after every call, so Go panics stay recoverable.
//   - One data directory per process at a time (connections to the same
//     directory may coexist; another directory needs all closed first), and
//     one process per directory ("Cannot lock file .../status"). Open
//     reports both as ErrOtherDataDir and ErrDataDirLocked.
//   - A setting passed to chdb_connect ("--readonly=1") had no effect in
//     this version; settings are applied with SET on the session instead.
//   - chDB reports version 26.5.1.1 and revision 54510 although the package
//     is 26.5.3.
package chdb
