package chdb

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// FuzzGuard sends arbitrary statements as the reader (the credential people get) and checks
// the endpoint's promise: nothing is written to the host or the tables, and the server keeps
// answering. Run longer with: go test -run '^$' -fuzz FuzzGuard -fuzztime 2m ./history/chdb/
func FuzzGuard(f *testing.F) {
	ts := startRoleServer(f, Options{People: PeopleLimits{MaxExecutionSeconds: 2}})
	const out = "/tmp/breachd-fuzz-guard-out"
	_ = os.Remove(out)
	for _, s := range []string{
		"SELECT 'x' INTO/**/OUTFILE '" + out + "' APPEND FORMAT RawBLOB",
		"SELECT 'x' INTO\n-- c\nOUTFILE '" + out + "'",
		"SELECT 1; SELECT 'x' INTO OUTFILE '" + out + "'",
		"INSERT INTO FUNCTION file('" + out + "', 'TSV', 'a String') VALUES ('x')",
		"SELECT file('/etc/hostname')",
		"SELECT * FROM file('/etc/passwd', 'LineAsString')",
		"ALTER TABLE audit DELETE WHERE 1",
		"DELETE FROM audit WHERE 1",
		"SHOW TABLES INTO OUTFILE '" + out + "'",
		"SELECT count() FROM events",
		"WITH x AS (SELECT 1) SELECT * FROM x",
		"SELECT * FROM system.processes",
		"INSERT INTO events FORMAT TSV\n9\tz\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		code, body := ts.tcp(t, reader, http.MethodPost, "", sql)
		if code == 0 {
			t.Fatalf("no answer to %q", sql)
		}
		if _, err := os.Stat(out); err == nil {
			_ = os.Remove(out)
			t.Fatalf("%q wrote %s (status %d %s)", sql, out, code, body)
		}
		if got := ts.counts(t); got != "2\t1" {
			t.Fatalf("%q changed the tables: %s (status %d %s)", sql, got, code, body)
		}
	})
}

// acceptedInsert is the only shape insertStatement may produce.
var acceptedInsert = regexp.MustCompile("^INSERT INTO `default`\\.`[A-Za-z_][A-Za-z0-9_]*`( \\(`[A-Za-z_][A-Za-z0-9_]*`(, `[A-Za-z_][A-Za-z0-9_]*`)*\\))? FROM INFILE '[^'\\\\]+' FORMAT [A-Za-z]+$")

// FuzzInsertHead checks the INSERT heads of users who are not owners: whatever is accepted is
// rebuilt into one fixed shape naming a table the user may append to.
func FuzzInsertHead(f *testing.F) {
	for _, s := range []string{"INSERT INTO audit (actor, action)", "INSERT INTO `default`.audit", "INSERT INTO audit SELECT 1",
		"INSERT INTO FUNCTION file('x')", "INSERT INTO audit FROM INFILE '/etc/passwd'", "/* c */ INSERT INTO audit (a) SETTINGS x=1",
		"INSERT INTO system.query_log", "INSERT INTO events (id)"} {
		f.Add(s, "TSV")
	}
	s := &Server{opts: Options{Database: "default"}}
	staged := filepath.Join(os.TempDir(), "breachd-staged")
	f.Fuzz(func(t *testing.T, head, format string) {
		stmt, err := s.insertStatement(&operator, insertHead{stmt: head, format: format}, staged)
		if err != nil {
			return
		}
		if !acceptedInsert.MatchString(stmt) {
			t.Fatalf("head %q format %q became %q", head, format, stmt)
		}
		if m := regexp.MustCompile("^INSERT INTO `default`\\.`([^`]+)`").FindStringSubmatch(stmt); m == nil || !operator.mayInsert(m[1]) {
			t.Fatalf("head %q became %q: a table the operator may not append to", head, stmt)
		}
	})
}
