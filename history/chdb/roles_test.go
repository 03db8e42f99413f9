package chdb

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The users of a breachd endpoint: see deploy (reader and operator in the
// endpoint file, writer in memory for separate stages, owner in-process).
var (
	reader   = User{Name: "reader", Password: "r-pass", Interactive: true}
	operator = User{Name: "operator", Password: "o-pass", Insert: []string{"audit"}, Interactive: true}
	writer   = User{Name: "writer", Password: "w-pass", Insert: []string{"*"}}
)

// startRoleServer starts a server with the four kinds of user and a small
// schema made by the owner.
func startRoleServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	opts.Users = []User{reader, operator, writer}
	ts := startServer(t, opts)
	for _, sql := range []string{
		"CREATE TABLE events (id UInt32, user String) ENGINE = MergeTree ORDER BY id",
		"CREATE TABLE audit (actor String, action String) ENGINE = MergeTree ORDER BY tuple()",
		"INSERT INTO events VALUES (1, 'a@x.no'), (2, 'b@x.no')",
		"INSERT INTO audit VALUES ('ops', 'lookup')",
	} {
		if code, _, body := ts.httpDo(t, "POST", "", sql, nil, true); code != 200 {
			t.Fatalf("owner: %s: %d %s", sql, code, body)
		}
	}
	return ts
}

// tcp sends a request over the loopback TCP listener as user u.
func (ts *testServer) tcp(t testing.TB, u User, method, rawQuery, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+ts.srv.Addr()+"/?"+rawQuery, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(u.Name, u.Password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// count returns "events audit" row counts, read by the owner.
func (ts *testServer) counts(t testing.TB) string {
	t.Helper()
	_, _, body := ts.httpDo(t, "GET", "query="+url.QueryEscape("SELECT (SELECT count() FROM events), (SELECT count() FROM audit)"), "", nil, true)
	return strings.TrimSpace(body)
}

// Every attack of issue 10 items 1 and 2 through the endpoint, as each user
// that is handed out: refused, logged with the user, and nothing changed on
// the host or in the tables.
func TestEndpointRefusesAttacks(t *testing.T) {
	ts := startRoleServer(t, Options{})
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	q := url.QueryEscape
	attacks := []struct {
		name, method, rawQuery, body string
	}{
		{"INTO/**/OUTFILE", "POST", "", "SELECT 'x' INTO/**/OUTFILE '" + out + "' APPEND FORMAT RawBLOB"},
		{"INTO comment OUTFILE", "POST", "", "SELECT 'x' INTO\n-- c\nOUTFILE '" + out + "'"},
		{"INTO nested comment OUTFILE", "POST", "", "SELECT 'x' INTO /* a /* b */ c */ OUTFILE '" + out + "'"},
		{"SHOW INTO OUTFILE", "POST", "", "SHOW TABLES INTO OUTFILE '" + out + "'"},
		{"second statement", "POST", "", "SELECT 1; SELECT 'x' INTO OUTFILE '" + out + "'"},
		{"file() table function", "GET", "query=" + q("SELECT * FROM file('/etc/passwd', 'LineAsString')"), ""},
		{"file() scalar", "GET", "query=" + q("SELECT file('/etc/hostname')"), ""},
		{"FILE() scalar upper case", "GET", "query=" + q("SELECT FILE('/etc/hostname')"), ""},
		{"file() in a lambda", "GET", "query=" + q("SELECT arrayMap(x -> file(x), ['/etc/hostname'])"), ""},
		{"DESCRIBE file()", "GET", "query=" + q("DESCRIBE file('/etc/passwd', 'LineAsString')"), ""},
		{"url()", "GET", "query=" + q("SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')"), ""},
		{"remote()", "GET", "query=" + q("SELECT * FROM remote('127.0.0.1', system.one)"), ""},
		{"merge() over system", "GET", "query=" + q("SELECT * FROM merge('system', '^processes$')"), ""},
		{"executable()", "GET", "query=" + q("SELECT * FROM executable('id', 'TSV', 'x String')"), ""},
		{"system.processes", "GET", "query=" + q("SELECT query FROM system.processes"), ""},
		{"IN system table", "GET", "query=" + q("SELECT 1 WHERE 'x' IN system.processes"), ""},
		{"INSERT INTO FUNCTION file", "POST", "", "INSERT INTO FUNCTION file('" + out + "', 'TSV', 'a String') VALUES ('x')"},
		{"INSERT SELECT file", "POST", "", "INSERT INTO events SELECT 9, line FROM file('/etc/hostname', 'LineAsString')"},
		{"INSERT FROM INFILE", "POST", "", "INSERT INTO events FROM INFILE '/etc/hostname' FORMAT TSV"},
		{"INSERT VALUES expression", "POST", "query=" + q("INSERT INTO events VALUES"), "(9, file('/etc/hostname'))"},
		{"CREATE", "POST", "", "CREATE TABLE x (a UInt8) ENGINE = Memory"},
		{"DROP", "POST", "", "DROP TABLE events"},
		{"TRUNCATE", "POST", "", "TRUNCATE TABLE audit"},
		{"ALTER DELETE audit", "POST", "", "ALTER TABLE audit DELETE WHERE 1"},
		{"DELETE FROM audit", "POST", "", "DELETE FROM audit WHERE 1"},
		{"ALTER UPDATE audit", "POST", "", "ALTER TABLE audit UPDATE actor = 'forged' WHERE 1"},
		{"SYSTEM SHUTDOWN", "POST", "", "SYSTEM SHUTDOWN"},
		{"KILL QUERY", "POST", "", "KILL QUERY WHERE 1"},
		{"SET", "POST", "", "SET max_memory_usage = 0"},
		{"readonly=0 on GET", "GET", "readonly=0&query=" + q("SELECT getSetting('readonly')"), ""},
		{"settings clause", "GET", "query=" + q("SELECT 1 SETTINGS readonly = 0"), ""},
		{"unknown setting", "GET", "allow_ddl=1&query=" + q("SELECT 1"), ""},
		{"setting writing a file", "GET", "output_format_schema=" + q(out) + "&query=" + q("SELECT 1") + "&default_format=CapnProto", ""},
		{"setting reading a file", "GET", "format_template_resultset=" + q("/etc/passwd") + "&query=" + q("SELECT 1") + "&default_format=Template", ""},
		{"other database", "GET", "database=system&query=" + q("SELECT 1"), ""},
		{"USE", "POST", "", "USE system"},
		// An identifier parameter names the table: a verdict on the same text with an allowed
		// table (checked first, in TestEndpointRolesAllow's way) must not let another through.
		{"identifier parameter", "GET", "query=" + q("SELECT count() FROM {t:Identifier}") + "&param_t=system.processes", ""},
	}
	for _, u := range []User{reader, operator, writer} { // the allowed value first, so its verdict is cached
		if code, body := ts.tcp(t, u, "GET", "query="+q("SELECT count() FROM {t:Identifier}")+"&param_t=events", ""); code != http.StatusOK || body != "2\n" {
			t.Fatalf("%s: an identifier parameter naming events: %d %q", u.Name, code, body)
		}
	}
	refusals := map[string]int{}
	for _, u := range []User{reader, operator, writer} {
		for _, a := range attacks {
			code, body := ts.tcp(t, u, a.method, a.rawQuery, a.body)
			switch code {
			case http.StatusOK:
				t.Errorf("%s: %s: accepted: %q", u.Name, a.name, body)
			case http.StatusBadRequest, http.StatusForbidden:
				refusals[u.Name]++
			default: // passed the guard; the engine refused it
				t.Logf("%s: %s: %d %s", u.Name, a.name, code, body)
			}
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused statement wrote %s", out)
	}
	if got := ts.counts(t); got != "2\t1" {
		t.Errorf("rows of events and audit after the attacks = %q, want 2 and 1", got)
	}
	logged := map[string]int{}
	for _, u := range ts.logs.refusedUsers() {
		logged[u]++
	}
	for _, u := range []User{reader, operator, writer} {
		if logged[u.Name] != refusals[u.Name] || refusals[u.Name] < len(attacks)-1 {
			t.Errorf("%s: %d refusals logged with the user, %d answered 400/403, of %d attacks", u.Name, logged[u.Name], refusals[u.Name], len(attacks))
		}
	}
	// The owner's credential is useless over TCP.
	if code, _ := ts.tcp(t, User{Name: testUser, Password: testPassword}, "GET", "query=SELECT+1", ""); code != http.StatusUnauthorized {
		t.Errorf("owner over TCP: status %d, want 401", code)
	}
}

// What each user may do still works: reading breachd's tables, the harmless
// system tables and statements people use, and appending where allowed.
func TestEndpointRolesAllow(t *testing.T) {
	ts := startRoleServer(t, Options{})
	q := url.QueryEscape
	for _, c := range []struct {
		u                            User
		method, rawQuery, body, want string
	}{
		{reader, "GET", "query=" + q("SELECT user FROM events WHERE id = {id:UInt32}") + "&param_id=2", "", "b@x.no\n"},
		{reader, "GET", "query=" + q("SELECT count() FROM default.events"), "", "2\n"},
		{reader, "GET", "query=" + q("WITH n AS (SELECT number FROM numbers(3)) SELECT sum(number) FROM n"), "", "3\n"},
		{reader, "GET", "query=" + q("SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name"), "", "audit\nevents\n"},
		{reader, "GET", "query=" + q("SHOW TABLES"), "", "audit\nevents\n"},
		{reader, "GET", "query=" + q("DESCRIBE TABLE events") + "&default_format=TSVRaw", "", "id\tUInt32\t\t\t\t\t\nuser\tString\t\t\t\t\t\n"},
		{reader, "GET", "query=" + q("SELECT 'into outfile', 1 AS infile -- INTO OUTFILE in a comment"), "", "into outfile\t1\n"},
		{reader, "GET", "readonly=1&max_result_rows=5&query=" + q("SELECT getSetting('readonly'), getSetting('max_result_rows')"), "", "1\t5\n"},
		{reader, "GET", "query=" + q("SELECT getSetting('max_execution_time') <= 30, getSetting('max_memory_usage')"), "", "1\t2147483648\n"},
		{operator, "POST", "query=" + q("INSERT INTO audit (actor, action) FORMAT TSV"), "ops\tsql\n", ""},
		{writer, "POST", "query=" + q("INSERT INTO events FORMAT TSV"), "3\tc@x.no\n", ""},
		{writer, "POST", "", "INSERT INTO `default`.`events` (id, user) FORMAT JSONEachRow\n{\"id\":4,\"user\":\"d@x.no\"}\n", ""},
		{writer, "POST", "query=" + q("INSERT INTO events VALUES"), "(5, 'e@x.no')", ""},
	} {
		code, body := ts.tcp(t, c.u, c.method, c.rawQuery, c.body)
		if code != 200 || body != c.want {
			t.Errorf("%s: %s %s: %d %q, want 200 %q", c.u.Name, c.rawQuery, c.body, code, body, c.want)
		}
	}
	for _, c := range []struct {
		u     User
		table string
	}{{reader, "audit"}, {reader, "events"}, {operator, "events"}} {
		code, body := ts.tcp(t, c.u, "POST", "query="+q("INSERT INTO "+c.table+" FORMAT TSV"), "x\ty\n")
		if code != http.StatusForbidden {
			t.Errorf("%s inserting into %s: %d %q, want 403", c.u.Name, c.table, code, body)
		}
	}
	if got := ts.counts(t); got != "5\t2" {
		t.Errorf("rows of events and audit = %q, want 5 and 2", got)
	}
}

// People's statements are bounded inside the engine: a heavy scan stops at
// the time limit rather than holding the engine.
func TestEndpointPeopleLimits(t *testing.T) {
	ts := startRoleServer(t, Options{People: PeopleLimits{MaxExecutionSeconds: 1}})
	start := time.Now()
	code, body := ts.tcp(t, reader, "GET", "query="+url.QueryEscape("SELECT count() FROM numbers(100000000000)"), "")
	if code == 200 || !strings.Contains(body, "TIMEOUT_EXCEEDED") {
		t.Fatalf("heavy scan: %d %q, want TIMEOUT_EXCEEDED", code, body)
	}
	t.Logf("heavy scan stopped after %v", time.Since(start).Round(time.Millisecond))
	// A client cannot raise its limit.
	code, body = ts.tcp(t, reader, "GET", "max_execution_time=600&query="+url.QueryEscape("SELECT getSetting('max_execution_time')"), "")
	if code != 200 || strings.TrimSpace(body) != "1" {
		t.Errorf("max_execution_time=600 asked: %d %q, want the limit 1", code, body)
	}
}

// Pipeline statements waiting for the engine go before people's.
func TestTurnLockPipelineFirst(t *testing.T) {
	var l turnLock
	ctx := context.Background()
	if err := l.acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 2)
	started := make(chan struct{}, 2)
	for _, who := range []string{"person", "pipeline"} {
		go func() {
			started <- struct{}{}
			_ = l.acquire(ctx, who == "person")
			order <- who
			l.release()
		}()
		<-started
		for { // wait until it is queued
			l.mu.Lock()
			n := len(l.pipeline) + len(l.interactive)
			l.mu.Unlock()
			if (who == "person" && n == 1) || n == 2 {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	l.release()
	if first, second := <-order, <-order; first != "pipeline" || second != "person" {
		t.Errorf("order %s, %s; want pipeline, person", first, second)
	}
	// A waiter whose context ends leaves the queue and the lock stays usable.
	if err := l.acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := l.acquire(cctx, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued past its deadline: %v", err)
	}
	l.release()
	if err := l.acquire(ctx, true); err != nil {
		t.Fatal(err)
	}
	l.release()
}
