package chdb

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// (g) the endpoint as a person with curl uses it.
func TestPlainHTTP(t *testing.T) {
	ts := startServer(t, Options{MaxBodyBytes: 1 << 20})
	setup := []string{
		"CREATE TABLE notes (id UInt32, body String) ENGINE = MergeTree ORDER BY id",
		"CREATE TABLE lines (s String) ENGINE = MergeTree ORDER BY tuple()",
	}
	for _, sql := range setup {
		if code, _, body := ts.httpDo(t, "POST", "", sql, nil, true); code != 200 {
			t.Fatalf("%s: %d %s", sql, code, body)
		}
	}
	tsv := "1\tone\n2\t\n3\t\n4\tfour\n"
	gz := func(s string) string {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(s))
		_ = zw.Close()
		return b.String()
	}
	q := url.QueryEscape
	tests := []struct {
		name, method, rawQuery, body string
		hdr                          http.Header
		auth                         bool
		status                       int
		want                         string // body, or its prefix for errors
	}{
		{"GET query", "GET", "query=SELECT+1", "", nil, true, 200, "1\n"},
		{"POST body query", "POST", "", "SELECT 'a', 2", nil, true, 200, "a\t2\n"},
		{"query param + body", "POST", "query=SELECT", " 40 + 2", nil, true, 200, "42\n"},
		{"insert data in body", "POST", "query=" + q("INSERT INTO notes FORMAT TabSeparated"), tsv, nil, true, 200, ""},
		{"insert data inline", "POST", "", "INSERT INTO notes FORMAT TSV\n5\t\n6\tsix\n", nil, true, 200, ""},
		// An empty line ("\n\n") is an empty string here; chDB would cut
		// inline data there without an error.
		{"blank line in body", "POST", "query=" + q("INSERT INTO lines FORMAT TSV"), "a\n\nb\n", nil, true, 200, ""},
		{"blank line inline", "POST", "", "INSERT INTO lines FORMAT TSV\nc\n\n\nd\n", nil, true, 200, ""},
		{"lines", "GET", "query=" + q("SELECT count(), countIf(s = '') FROM lines"), "", nil, true, 200, "7\t3\n"},
		{"insert VALUES in body", "POST", "query=" + q("INSERT INTO notes VALUES"), "(7, 'seven')", nil, true, 200, ""},
		{"insert gzip body", "POST", "query=" + q("INSERT INTO notes FORMAT TSV"), gz("8\teight\n"),
			http.Header{"Content-Encoding": {"gzip"}}, true, 200, ""},
		{"inserted", "GET", "query=" + q("SELECT count(), countIf(body = '') FROM notes"), "", nil, true, 200, "8\t3\n"},
		{"format param", "GET", "query=" + q("SELECT id FROM notes WHERE id = 1") + "&default_format=JSONEachRow", "", nil, true, 200, "{\"id\":1}\n"},
		{"query params", "GET", "query=" + q("SELECT body FROM notes WHERE id = {id:UInt32}") + "&param_id=4", "", nil, true, 200, "four\n"},
		{"setting param", "GET", "query=" + q("SELECT getSetting('max_result_rows')") + "&max_result_rows=3", "", nil, true, 200, "3\n"},
		{"max_execution_time param", "GET", "query=" + q("SELECT getSetting('max_execution_time')") + "&max_execution_time=7", "", nil, true, 200, "7\n"},
		{"readonly param", "POST", "readonly=1", "CREATE TABLE x (a UInt8) ENGINE = Memory", nil, true, 500, "Code: 164."},
		{"database param", "GET", "query=" + q("SELECT currentDatabase()") + "&database=system", "", nil, true, 200, "system\n"},
		{"user/password params", "GET", "query=SELECT+3&user=" + testUser + "&password=" + testPassword, "", nil, false, 200, "3\n"},
		{"X-ClickHouse headers", "GET", "query=SELECT+4", "", http.Header{"X-Clickhouse-User": {testUser}, "X-Clickhouse-Key": {testPassword}}, false, 200, "4\n"},
		{"bare GET", "GET", "", "", nil, false, 200, "Ok.\n"},
		{"no credentials", "GET", "query=SELECT+1", "", nil, false, 401, "Code: 516."},
		{"wrong password", "GET", "query=SELECT+1&user=" + testUser + "&password=nope", "", nil, false, 401, "Code: 516."},
		{"GET is read-only", "GET", "query=" + q("DROP TABLE notes"), "", nil, true, 500, "Code: 164."},
		{"syntax error", "POST", "", "SELEC 1", nil, true, 500, "Code: 62. DB::Exception: Syntax error"},
		{"unknown setting", "GET", "query=SELECT+1&no_such_setting=1", "", nil, true, 500, "Code: 115."},
		{"body too large", "POST", "query=" + q("INSERT INTO notes FORMAT TSV"), strings.Repeat("9\tx\n", 300_000), nil, true, 413, "Code: 307."},
		{"unknown encoding", "POST", "", "SELECT 1", http.Header{"Content-Encoding": {"xz"}}, true, 400, "Code: 48."},
		{"external tables", "POST", "", "x", http.Header{"Content-Type": {"multipart/form-data; boundary=x"}}, true, 501, "Code: 48."},
		{"method", "PUT", "query=SELECT+1", "", nil, true, 405, "Code: 36."},
		// chDB would write and read files on this machine even with readonly=1.
		{"into outfile in URL", "GET", "query=" + q("SELECT 1 INTO OUTFILE '"+t.TempDir()+"/x'"), "", nil, true, 400, "Code: 48."},
		{"into outfile in body", "POST", "", "SELECT 1\ninto  outfile '" + t.TempDir() + "/y'", nil, true, 400, "Code: 48."},
		{"from infile in body", "POST", "", "INSERT INTO lines FROM INFILE '/etc/hostname' FORMAT LineAsString", nil, true, 400, "Code: 48."},
		{"from infile after URL query", "POST", "query=" + q("INSERT INTO lines"), " FROM INFILE '/etc/hostname' FORMAT LineAsString", nil, true, 400, "Code: 48."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, body := ts.httpDo(t, tt.method, tt.rawQuery, tt.body, tt.hdr, tt.auth)
			if code != tt.status {
				t.Fatalf("status %d, want %d; body %q", code, tt.status, body)
			}
			if tt.status == 200 && body != tt.want {
				t.Errorf("body %q, want %q", body, tt.want)
			}
			if tt.status != 200 {
				if !strings.HasPrefix(body, tt.want) {
					t.Errorf("body %q, want prefix %q", body, tt.want)
				}
				if want := strings.TrimSuffix(strings.TrimPrefix(tt.want, "Code: "), "."); !strings.HasPrefix(hdr.Get("X-ClickHouse-Exception-Code"), strings.Split(want, ".")[0]) {
					t.Errorf("X-ClickHouse-Exception-Code %q, body %q", hdr.Get("X-ClickHouse-Exception-Code"), body)
				}
			}
		})
	}
	resp, err := http.Get("http://" + ts.srv.Addr() + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || b.String() != "Ok.\n" {
		t.Errorf("/ping: %d %q", resp.StatusCode, b.String())
	}
}

// (f) only loopback addresses are accepted.
func TestServerRefusesNonLoopback(t *testing.T) {
	e := &Engine{} // never queried: NewServer only validates
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8123", "example.com:8123", "nonsense"} {
		if _, err := NewServer(e, Options{Addr: addr, Users: []User{{Name: "u", Password: "p"}}}); err == nil {
			t.Errorf("%q accepted", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0", "127.1.2.3:0", ""} {
		if _, err := NewServer(e, Options{Addr: addr, Users: []User{{Name: "u", Password: "p"}}}); err != nil {
			t.Errorf("%q refused: %v", addr, err)
		}
	}
	if _, err := NewServer(e, Options{}); err == nil {
		t.Error("server without credentials accepted")
	}
}

// Requests beyond MaxInFlight are refused at once rather than queued.
func TestServerMaxInFlight(t *testing.T) {
	ts := startServer(t, Options{MaxInFlight: 1})
	_ = ts.engine.turn.acquire(context.Background(), false) // the engine is busy
	released := false
	release := func() {
		if !released {
			released = true
			ts.engine.turn.release()
		}
	}
	defer release()
	first := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+ts.srv.Addr()+"/?query=SELECT+1", nil)
		req.SetBasicAuth(testUser, testPassword)
		res, err := ts.client().Do(req)
		if err != nil {
			first <- -1
			return
		}
		_ = res.Body.Close()
		first <- res.StatusCode
	}()
	for deadline := time.Now().Add(5 * time.Second); len(ts.srv.inflight) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("first request never became in-flight")
		}
		time.Sleep(5 * time.Millisecond)
	}
	code, hdr, body := ts.httpDo(t, "GET", "query=SELECT+2", "", nil, true)
	if code != http.StatusServiceUnavailable || hdr.Get("X-ClickHouse-Exception-Code") != "202" {
		t.Errorf("second request: %d %q", code, body)
	}
	release()
	if code := <-first; code != http.StatusOK {
		t.Errorf("first request: %d", code)
	}
}
