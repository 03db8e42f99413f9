package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"breachd/api"
	"breachd/auth"
)

// TestBadInput: each bad request is a 4xx with a JSON error naming what is wrong, changes
// nothing, and leaves the server answering.
func TestBadInput(t *testing.T) {
	e := newEnv(t, nil)
	soc, orgAdmin := principalName(auth.RoleSOC, bergen), principalName(auth.RoleOrgAdmin, bergen)
	acc := accountOf[bergen]
	id := e.byAccount[acc].ID
	before := e.version(acc)
	var authRows uint64
	if err := e.store.Conn().QueryRow(context.Background(), "SELECT count() FROM auth_events").Scan(&authRows); err != nil {
		t.Fatal(err)
	}
	lookup := func(account string) string {
		return "/api/history/logins?from=30d&reason=test&account=" + url.QueryEscape(account)
	}
	for _, c := range []struct {
		name, method, path, principal, body string
		status                              int
		code, says                          string
	}{
		{"oversized comment", "POST", "/api/incidents/" + id + "/comment", soc, `{"text":"` + strings.Repeat("x", 20<<10) + `"}`, 413, api.CodeBodyTooLarge, "larger than 16384"},
		{"oversized rule files", "POST", "/api/rules/check", soc, `{"files":{"a.yaml":"` + strings.Repeat("x", 1<<20) + `"}}`, 413, api.CodeBodyTooLarge, "larger than 1048576"},
		{"malformed JSON", "POST", "/api/incidents/" + id + "/comment", soc, `{"text":`, 400, api.CodeInvalidJSON, "not valid JSON"},
		{"not an object", "POST", "/api/incidents/" + id + "/ack", soc, `"ack"`, 400, api.CodeInvalidJSON, ""},
		{"wrong type", "POST", "/api/incidents/" + id + "/comment", soc, `{"step":"two","text":"x"}`, 400, api.CodeInvalidJSON, `field \"step\": want int`},
		{"unknown field", "POST", "/api/incidents/" + id + "/comment", soc, `{"text":"x","as":"dpo@datatilsynet.no"}`, 400, api.CodeUnknownField, `unknown field \"as\"`},
		{"trailing data", "POST", "/api/incidents/" + id + "/comment", soc, `{"text":"x"} {"text":"y"}`, 400, api.CodeInvalidJSON, "after its JSON value"},
		{"transition without state", "POST", "/api/incidents/" + id + "/transition", soc, `{}`, 400, api.CodeBadRequest, "to:"},
		{"bad incident id", "GET", "/api/incidents/INC%22;%20x/report", soc, "", 400, api.CodeBadRequest, "incident id"},
		{"long incident id", "GET", "/api/incidents/" + strings.Repeat("A", 65), soc, "", 400, api.CodeBadRequest, "incident id"},
		{"path traversal in the report download", "GET", "/api/incidents/..%2F..%2Fetc%2Fpasswd/report?format=markdown", soc, "", 400, api.CodeBadRequest, "incident id"},
		{"traversal in the report format", "GET", "/api/incidents/" + id + "/report?format=../../x", soc, "", 400, api.CodeBadRequest, "format"},
		{"right-to-left override", "GET", lookup(acc + "\u202e"), soc, "", 400, api.CodeBadRequest, "U+202E"},
		{"zero-width space", "GET", lookup("ka\u200bri@" + bergen), soc, "", 400, api.CodeBadRequest, "U+200B"},
		{"NUL", "GET", lookup("kari\x00@" + bergen), soc, "", 400, api.CodeBadRequest, "U+0000"},
		{"variation selector", "GET", lookup("kari\ufe0f@" + bergen), soc, "", 400, api.CodeBadRequest, "U+FE0F"},
		{"no-break space", "GET", lookup("kari\u00a0@" + bergen), soc, "", 400, api.CodeBadRequest, "U+00A0"},
		{"invalid UTF-8", "GET", "/api/history/logins?from=30d&reason=test&account=kari%FF%40" + bergen, soc, "", 400, api.CodeBadRequest, "UTF-8"},
		{"long account", "GET", lookup(strings.Repeat("k", 300) + "@" + bergen), soc, "", 400, api.CodeBadRequest, "longer than"},
		{"no reason", "GET", "/api/history/logins?from=30d&account=" + url.QueryEscape(acc), soc, "", 400, api.CodeBadRequest, "reason"},
		{"window too long", "GET", "/api/history/logins?from=500d&reason=x&account=" + url.QueryEscape(acc), soc, "", 400, api.CodeBadRequest, "maximum"},
		{"bad time", "GET", "/api/history/logins?from=yesterday&reason=x&account=" + url.QueryEscape(acc), soc, "", 400, api.CodeBadRequest, "from:"},
		{"unknown lookup", "GET", "/api/history/passwords?from=1d&reason=x&account=" + url.QueryEscape(acc), soc, "", 400, api.CodeBadRequest, "lookup"},
		{"SQL in the account, other organisation", "GET", lookup("x' OR 1=1 --@" + bergen + "' OR '1'='1"), orgAdmin, "", 404, api.CodeNotFound, ""},
		{"direction override in a comment", "POST", "/api/incidents/" + id + "/comment", soc, `{"text":"no breach \u202egnissim"}`, 400, api.CodeBadRequest, "text holds"},
		{"zero-width space in a comment", "POST", "/api/incidents/" + id + "/comment", soc, `{"text":"no\u200bbreach"}`, 400, api.CodeBadRequest, "U+200B"},
		{"word joiner in a comment", "POST", "/api/incidents/" + id + "/comment", soc, `{"text":"no\u2060breach"}`, 400, api.CodeBadRequest, "U+2060"},
		{"byte order mark in a report field", "PATCH", "/api/incidents/" + id + "/report", principalName(auth.RoleDPO, bergen), `{"measures":"\ufeffdone"}`, 400, api.CodeBadRequest, "U+FEFF"},
		{"escape sequence in a report field", "PATCH", "/api/incidents/" + id + "/report", principalName(auth.RoleDPO, bergen), `{"measures":"done\u001b[2K"}`, 400, api.CodeBadRequest, "measures holds"},
		{"direction override in a lookup's reason", "GET", "/api/history/logins?from=30d&account=" + url.QueryEscape(acc) + "&reason=" + url.QueryEscape("phishing \u2066x"), soc, "", 400, api.CodeBadRequest, "reason holds"},
		{"bad cursor", "GET", "/api/incidents?cursor=bm90LWEtY3Vyc29y", soc, "", 400, api.CodeBadRequest, "cursor"},
		{"limit too large", "GET", "/api/incidents?limit=5000", soc, "", 400, api.CodeBadRequest, "limit"},
		{"unknown state", "GET", "/api/incidents?state=gone", soc, "", 400, api.CodeBadRequest, "state"},
		{"statement that writes", "POST", "/api/history/sql", soc, `{"statement":"DROP TABLE auth_events","reason":"x"}`, 400, api.CodeBadRequest, "read-only"},
		{"role that does not exist", "POST", "/api/users", principalName(auth.RoleAdmin, bergen), `{"name":"x","roles":["root"]}`, 400, api.CodeBadRequest, "unknown role"},
		{"user name with a bidi override", "POST", "/api/users", principalName(auth.RoleAdmin, bergen), `{"name":"adm\u202enimda","roles":["soc"]}`, 400, api.CodeBadRequest, "U+202E"},
		{"no such route", "GET", "/api/passwords", soc, "", 404, api.CodeNotFound, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := e.do(c.method, c.path, c.principal, c.body)
			if resp.StatusCode != c.status || errorCode(body) != c.code || !strings.Contains(string(body), c.says) {
				t.Errorf("%d %.300s; want %d %s saying %q", resp.StatusCode, body, c.status, c.code, c.says)
			}
			if cd := resp.Header.Get("Content-Disposition"); cd != "" {
				t.Errorf("a refused request offers a download: %s", cd)
			}
		})
	}
	// An HTML form cannot post a change: the body must be declared JSON.
	req, _ := http.NewRequest("POST", e.http.URL+"/api/incidents/"+id+"/comment", strings.NewReader(`{"text":"from a form"}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+e.tokens[soc])
	formResp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	formResp.Body.Close()
	if formResp.StatusCode != http.StatusBadRequest {
		t.Errorf("a text/plain body: %s, want 400", formResp.Status)
	}
	// SQL in an account of the caller's scope is a parameter like any other: no rows, no harm.
	resp, body := e.do("GET", lookup("x' OR '1'='1"), soc, "")
	var rows api.Rows
	if err := json.Unmarshal(body, &rows); resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound || err == nil && rows.Total != 0 {
		t.Errorf("SQL-looking account: %d %s; want no rows", resp.StatusCode, body)
	}
	if after := e.version(acc); after != before {
		t.Errorf("bad requests changed the incident: version %d → %d", before, after)
	}
	var n uint64
	if err := e.store.Conn().QueryRow(context.Background(), "SELECT count() FROM auth_events").Scan(&n); err != nil || n != authRows {
		t.Errorf("auth_events holds %d rows (%v), had %d", n, err, authRows)
	}
	if resp, _ := e.do("GET", "/healthz", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("after the bad requests /healthz answers %d", resp.StatusCode)
	}
	// The download of a good id is named after it, and nothing else.
	resp, _ = e.do("GET", "/api/incidents/"+id+"/report?format=markdown", soc, "")
	if cd := resp.Header.Get("Content-Disposition"); resp.StatusCode != http.StatusOK || cd != `attachment; filename="art33-`+id+`.md"` {
		t.Errorf("report download: %d, Content-Disposition %q", resp.StatusCode, cd)
	}
}

// TestAuditBrokenNoData: with the audit table gone, no lookup of personal data returns data
// (500 audit_failed, no rows); back in place, the lookup answers.
func TestAuditBrokenNoData(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	soc, orgAdmin := principalName(auth.RoleSOC, bergen), principalName(auth.RoleOrgAdmin, bergen)
	q := "?account=" + url.QueryEscape(accountOf[bergen]) + "&from=30d&reason=audit+test"
	if err := e.store.Conn().Exec(ctx, "RENAME TABLE audit TO audit_moved"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, principal, body string }{
		{"GET", "/api/history/logins" + q, soc, ""},
		{"GET", "/api/history/logins" + q, orgAdmin, ""},
		{"GET", "/api/history/access" + q, soc, ""},
		{"GET", "/api/history/timeline" + q, soc, ""},
		{"GET", "/api/history/subject?account=elev0%40" + bergen + "&from=30d&reason=x", orgAdmin, ""},
		{"POST", "/api/history/sql", soc, `{"statement":"SELECT user FROM auth_events","reason":"audit test"}`},
		{"POST", "/api/incidents/" + e.byAccount[accountOf[bergen]].ID + "/evidence", soc, `{}`},
	} {
		resp, body := e.do(c.method, c.path, c.principal, c.body)
		if resp.StatusCode != http.StatusInternalServerError || errorCode(body) != api.CodeAuditFailed {
			t.Errorf("%s %s without an audit log: %d %s; want 500 audit_failed", c.method, c.path, resp.StatusCode, body)
		}
		if strings.Contains(string(body), `"rows"`) || strings.Contains(string(body), "lms") || strings.Contains(string(body), "elev") {
			t.Errorf("%s %s without an audit log returned data: %s", c.method, c.path, body)
		}
	}
	if err := e.store.Conn().Exec(ctx, "RENAME TABLE audit_moved TO audit"); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do("GET", "/api/history/logins"+q, soc, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "https://lms") {
		t.Errorf("logins with the audit log back: %d %s", resp.StatusCode, body)
	}
	// The lookup is audited with the signed-in identity, not a name the caller chose.
	var actor string
	if err := e.store.Conn().QueryRow(ctx, "SELECT actor FROM audit WHERE reason = 'audit test' ORDER BY time DESC LIMIT 1").Scan(&actor); err != nil {
		t.Fatal(err)
	}
	if want := soc + "@" + auth.IssuerLocal; actor != want {
		t.Errorf("audit actor %q, want %q", actor, want)
	}
}
