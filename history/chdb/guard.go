package chdb

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// The statement guard decides what an endpoint user may run. It does not
// parse SQL itself: ClickHouse's own parser does (formatQuerySingleLine and
// EXPLAIN AST, run in the engine), so the guard and the engine can never
// read a statement differently, and the statement that runs is the
// canonical text the guard checked — one statement, comments gone.
//
// Everything that is not an INSERT (those are rebuilt from a strictly
// parsed head, see insertGuard) must be a query (SELECT, WITH, SHOW TABLES,
// SHOW CREATE, DESCRIBE, EXISTS, EXPLAIN) that
//   - has no INTO OUTFILE / FROM INFILE (chDB writes and reads such files
//     on the host even with readonly=1, as clickhouse-local does),
//   - calls no table function that reaches the host, the network or other
//     databases (file, url, s3, remote, executable, merge, …: every table
//     function but a few generators) and no scalar function that reads host
//     files (file, which readonly=1 does not stop),
//   - names no table outside breachd's database except a few harmless
//     system tables,
// and it then runs with readonly=1 set last, so the engine itself refuses
// writes, DDL, SYSTEM statements and settings changes.

// allowedTableFunctions are the table functions that only generate data.
var allowedTableFunctions = map[string]bool{
	"numbers": true, "numbers_mt": true, "zeros": true, "zeros_mt": true, "generateseries": true,
	"generate_series": true, "values": true, "view": true, "format": true, "null": true,
}

// deniedFunctions are scalar functions that read host files or server
// configuration; table function names are added from the engine.
var deniedFunctions = []string{"file", "catboostevaluate", "naivebayesclassifier", "getserversetting",
	"getmergetreesetting", "getclienthttpheader", "filesystemunreserved"}

// allowedSystemTables are the system tables endpoint users may read.
var allowedSystemTables = map[string]bool{
	"one": true, "numbers": true, "numbers_mt": true, "zeros": true, "zeros_mt": true, "tables": true,
	"columns": true, "functions": true, "table_functions": true, "data_type_families": true,
	"formats": true, "time_zones": true, "parts": true, "settings": true,
}

// statementKinds are the AST roots a query may have.
var statementKinds = map[string]bool{
	"SelectWithUnionQuery": true, "SelectIntersectExceptQuery": true, "DescribeQuery": true,
	"ShowTables": true, "ShowCreateTableQuery": true, "ExistsTableQuery": true, "Explain": true,
	"ShowColumns": true,
}

// guardCacheSize bounds the verdicts kept; the pipeline's statements repeat
// (values travel as parameters), so they are checked once.
const guardCacheSize = 4096

// guard checks statements of endpoint users; see the comment above.
type guard struct {
	engine   *Engine
	database string

	mu     sync.Mutex
	denied map[string]bool // nil until loaded
	cache  map[string]verdict
}

type verdict struct {
	canonical string
	err       *QueryError
	keep      bool // cache it: the guard's own decision, not an engine error
}

func newGuard(e *Engine, database string) *guard {
	return &guard{engine: e, database: database, cache: map[string]verdict{}}
}

// refused builds the error of a statement the guard does not let through.
func refused(format string, args ...any) *QueryError {
	return newQueryError(codeAccessDenied, "ACCESS_DENIED", format, args...)
}

// loadDenied reads the engine's table functions, once it succeeds.
func (g *guard) loadDenied(ctx context.Context) error {
	g.mu.Lock()
	loaded := g.denied != nil
	g.mu.Unlock()
	if loaded {
		return nil
	}
	out, err := g.engine.Query(ctx, "SELECT name FROM system.table_functions", "TSVRaw")
	if err != nil {
		return fmt.Errorf("chdb guard: list table functions: %w", err)
	}
	denied := map[string]bool{}
	for _, n := range strings.Fields(string(out)) {
		if n = strings.ToLower(n); !allowedTableFunctions[n] {
			denied[n] = true
		}
	}
	for _, n := range deniedFunctions {
		denied[n] = true
	}
	g.mu.Lock()
	g.denied = denied
	g.mu.Unlock()
	return nil
}

// query returns the canonical text of a query the user may run, or why not.
// params are needed because EXPLAIN AST substitutes them.
func (g *guard) query(ctx context.Context, sql string, params map[string]string, interactive bool) (string, error) {
	key := verdictKey(sql, params)
	g.mu.Lock()
	v, ok := g.cache[key]
	g.mu.Unlock()
	if ok {
		if v.err != nil {
			return "", v.err
		}
		return v.canonical, nil
	}
	if err := g.loadDenied(ctx); err != nil {
		return "", err
	}
	v, err := g.check(ctx, sql, params, interactive)
	if err != nil {
		return "", err
	}
	if v.keep {
		g.mu.Lock()
		if len(g.cache) >= guardCacheSize {
			clear(g.cache)
		}
		g.cache[key] = v
		g.mu.Unlock()
	}
	if v.err != nil {
		return "", v.err
	}
	return v.canonical, nil
}

// verdictKey is what a verdict is cached under: the statement and its parameters, which the
// check substitutes ({t:Identifier} names a table: the same text with another value is
// another statement).
func verdictKey(sql string, params map[string]string) string {
	if len(params) == 0 {
		return sql
	}
	var b strings.Builder
	b.WriteString(sql)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		b.WriteString("\x00" + k + "=" + params[k])
	}
	return b.String()
}

// check asks the engine's parser. An error is a failure to check; a refusal
// is in the verdict.
func (g *guard) check(ctx context.Context, sql string, params map[string]string, interactive bool) (verdict, error) {
	res, err := g.engine.Do(ctx, Request{SQL: "SELECT formatQuerySingleLine({q:String}) FORMAT RawBLOB",
		Params: map[string]string{"q": escapeParam(sql)}, Settings: map[string]string{"readonly": "1"},
		Interactive: interactive})
	if err != nil {
		return engineVerdict(err) // a syntax error, a second statement, …
	}
	canonical := strings.TrimSpace(string(res.Data))
	if qe := checkTokens(canonical); qe != nil {
		return verdict{err: qe, keep: true}, nil
	}
	res, err = g.engine.Do(ctx, Request{SQL: "EXPLAIN AST " + canonical, Format: "TSVRaw", Params: params,
		Settings: map[string]string{"readonly": "1"}, Database: g.database, Interactive: interactive})
	if err != nil {
		return engineVerdict(err)
	}
	g.mu.Lock()
	denied := g.denied
	g.mu.Unlock()
	if qe := g.checkAST(string(res.Data), denied); qe != nil {
		return verdict{err: qe, keep: true}, nil
	}
	return verdict{canonical: canonical, keep: true}, nil
}

// engineVerdict passes the engine's objection to a statement on to the
// client; failures to ask (timeouts, a closed engine) are errors.
func engineVerdict(err error) (verdict, error) {
	var qe *QueryError
	if errors.As(err, &qe) && qe.Code != 0 && qe.Code != codeTimeoutExceeded {
		return verdict{err: qe}, nil
	}
	return verdict{}, err
}

// checkTokens looks at the canonical text: what kind of statement, and no
// client-side file clauses.
func checkTokens(canonical string) *QueryError {
	toks := words(canonical)
	if len(toks) == 0 {
		return refused("Empty query")
	}
	switch toks[0] {
	case "SELECT", "WITH", "(", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN":
	case "SHOW":
		if len(toks) < 2 || (toks[1] != "TABLES" && toks[1] != "CREATE" && toks[1] != "COLUMNS") {
			return refused("Only SHOW TABLES, SHOW COLUMNS and SHOW CREATE are allowed on this endpoint")
		}
	default:
		return refused("%s statements are not allowed on this endpoint: it is read-only (SELECT, WITH, SHOW, DESCRIBE, EXISTS, EXPLAIN)", toks[0])
	}
	for i := 1; i < len(toks); i++ {
		if (toks[i-1] == "INTO" && toks[i] == "OUTFILE") || (toks[i-1] == "FROM" && toks[i] == "INFILE") {
			return refused("%s %s reads or writes files on the breachd host and is not allowed; use the output format and a shell redirect instead", toks[i-1], toks[i])
		}
	}
	return nil
}

// checkAST walks the EXPLAIN AST dump: one node per line, "Kind name …".
func (g *guard) checkAST(dump string, denied map[string]bool) *QueryError {
	lines := strings.Split(strings.TrimRight(dump, "\n"), "\n")
	if root := firstField(lines[0]); !statementKinds[root] {
		return refused("%s statements are not allowed on this endpoint", root)
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "Function":
			if name := strings.ToLower(f[1]); denied[name] {
				return refused("function %s reaches the host, the network or other databases and is not allowed on this endpoint", f[1])
			}
		case "TableIdentifier", "Identifier":
			if qe := g.checkName(f[1], f[0] == "TableIdentifier"); qe != nil {
				return qe
			}
		}
	}
	return nil
}

// checkName refuses tables outside breachd's database. Identifiers are
// checked too, because "x IN system.processes" names a table with one.
func (g *guard) checkName(name string, table bool) *QueryError {
	db, tbl, qualified := strings.Cut(name, ".")
	if !qualified {
		return nil // the endpoint pins the current database
	}
	switch strings.ToLower(db) {
	case strings.ToLower(g.database):
		return nil
	case "system":
		if allowedSystemTables[strings.ToLower(tbl)] {
			return nil
		}
		return refused("table %s is not readable on this endpoint", name)
	case "information_schema":
		return refused("table %s is not readable on this endpoint", name)
	}
	if table {
		return refused("table %s is outside breachd's database %s", name, g.database)
	}
	return nil // column.subcolumn, alias.column
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// words splits canonical SQL into upper-cased bare words and single
// punctuation characters, skipping string literals and quoted identifiers
// (formatQuery writes literals with backslash escapes).
func words(sql string) []string {
	var out []string
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '`' || c == '"':
			j := i + 1
			for j < len(sql) && sql[j] != c {
				if sql[j] == '\\' {
					j++
				}
				j++
			}
			out = append(out, string(c)) // a quoted token, never a keyword
			i = j + 1
		case c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
			j := i
			for j < len(sql) && (sql[j] == '_' || sql[j] >= 'A' && sql[j] <= 'Z' || sql[j] >= 'a' && sql[j] <= 'z' || sql[j] >= '0' && sql[j] <= '9') {
				j++
			}
			out = append(out, strings.ToUpper(sql[i:j]))
			i = j
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		default:
			out = append(out, string(c))
			i++
		}
	}
	return out
}

// escapeParam renders s in the escaped text form of query parameters.
func escapeParam(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`, "\x00", `\0`)
	return r.Replace(s)
}
