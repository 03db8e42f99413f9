package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"breachd/deploy"
	"breachd/history"
)

// The attacks of issue 10 items 1 and 2 against a running `breachd run`, with the credentials
// people get (the endpoint file), and `history sql` both against the running instance and on the
// data directory directly: every one is refused, nothing is written on the host, the audit
// stays as it was, and breachd keeps running.
func TestHistoryIsReadOnlyForPeople(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	stop := startDemo(t, data)
	ep, err := deploy.ReadEndpoint(data)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(data, deploy.EndpointFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("endpoint file: %v %v, want mode 0600", fi.Mode(), err)
	}
	if strings.Contains(ep.DSN, "writer") || strings.Contains(ep.DSN, "owner") || ep.User != "reader" {
		t.Fatalf("endpoint file hands out %s and %s; want the reader and the operator only", ep.User, history.RedactDSN(ep.DSN))
	}
	opDSN, err := url.Parse(ep.DSN)
	if err != nil {
		t.Fatal(err)
	}
	opPass, _ := opDSN.User.Password()
	out := filepath.Join(t.TempDir(), "written")
	sql := func(q string) string {
		got, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "tsv", "--reason", "trust test", q)
		if code != 0 {
			t.Fatalf("history sql: exit %d %s", code, errs)
		}
		return strings.TrimPrefix(got, "c\n")
	}
	// The audit rows so far and their content; the running pipeline may append more.
	auditCut := strings.TrimSpace(strings.TrimPrefix(sql("SELECT toString(max(time)) AS c FROM audit"), "c\n"))
	audit := func() string {
		return sql("SELECT toString(count()) || ' ' || toString(groupBitXor(cityHash64(*))) AS c FROM audit WHERE time <= '" + auditCut + "'")
	}
	before := audit()
	attacks := []struct{ method, query, body string }{
		{"GET", "SELECT * FROM file('/etc/passwd', 'LineAsString')", ""},
		{"POST", "", "INSERT INTO FUNCTION file('" + out + "', 'TSV', 'a String') VALUES ('x')"},
		{"GET", "SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')", ""},
		{"POST", "", "CREATE TABLE forged (a UInt8) ENGINE = Memory"},
		{"POST", "", "ALTER TABLE audit DELETE WHERE 1"},
		{"POST", "", "INSERT INTO alerts (id) FORMAT TSV\nforged\n"},
		{"GET", "SELECT getSetting('readonly')&readonly=0", ""},
		{"POST", "", "SYSTEM SHUTDOWN"},
		{"POST", "", "SELECT 'x' INTO/**/OUTFILE '" + out + "' APPEND FORMAT RawBLOB"},
	}
	for _, who := range []struct{ user, pass string }{{ep.User, ep.Password}, {opDSN.User.Username(), opPass}} {
		for _, a := range attacks {
			u := ep.URL
			if a.query != "" {
				q, extra, _ := strings.Cut(a.query, "&")
				u += "?query=" + url.QueryEscape(q)
				if extra != "" {
					u += "&" + extra
				}
			}
			req, _ := http.NewRequest(a.method, u, strings.NewReader(a.body))
			req.SetBasicAuth(who.user, who.pass)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %s%s: %v (did the attack stop breachd?)", who.user, a.query, a.body, err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				t.Errorf("%s: %s%s accepted: %q", who.user, a.query, a.body, b)
			}
		}
	}
	sqlAttacks := []string{
		"SELECT 'x' INTO/**/OUTFILE '" + out + "' APPEND FORMAT RawBLOB",
		"SELECT 'x' INTO\n-- c\nOUTFILE '" + out + "'",
		"SELECT file('/etc/hostname')",
	}
	for _, q := range sqlAttacks {
		if got, _, code := breachd(t, nil, "history", "sql", "--data", data, "--reason", "attack", q); code == 0 {
			t.Errorf("history sql %q on the running instance: exit 0, %q", q, got)
		}
	}
	if got := audit(); got != before {
		t.Errorf("audit rows changed by the attacks: %q -> %q", before, got)
	}
	stop()
	// The data directory opened by the CLI itself: the same checks apply.
	for _, q := range sqlAttacks {
		if got, _, code := breachd(t, nil, "history", "sql", "--data", data, "--reason", "attack", q); code == 0 {
			t.Errorf("history sql %q on the data directory: exit 0, %q", q, got)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("an attack wrote %s", out)
	}
}
