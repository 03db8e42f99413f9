package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"breachd/auth"
)

// apiOf returns the API URL and the first start's one-time admin password (empty when none
// was printed) from the banner of `breachd run`.
func apiOf(t *testing.T, banner string) (url, password string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  API +(https?://\S+)`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("the banner names no API URL:\n%s", banner)
	}
	if p := regexp.MustCompile(`one-time password (\S+)`).FindStringSubmatch(banner); p != nil {
		password = p[1]
	}
	return m[1], password
}

// TestRunServesTheAPI: `breachd run` serves the API on --listen (a free port here) and names
// it in the banner; /healthz answers while it runs.
func TestRunServesTheAPI(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	_, out, _, stop := startRun(t, "breachd is running", time.Minute, "run", "--data", data, "--metrics-addr", "")
	defer stop()
	url, _ := apiOf(t, out.String())
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %s", resp.Status)
	}
	for _, want := range []string{"--server " + url, "breachd users"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
}

// TestServerModeRefusals: with --server the flags of direct mode and --as are usage errors
// (the server records the signed-in identity), as is a missing token; a command the API does
// not offer has no --server. Nothing is reached (the URL is not served).
func TestServerModeRefusals(t *testing.T) {
	const srv = "http://127.0.0.1:1"
	cases := []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"history", "logins", "--server", srv, "--as", "dpo@datatilsynet.no", "--account", "a@b", "--from", "1d", "--reason", "r"}, "--as cannot be used with --server"},
		{nil, []string{"incidents", "ack", "INC-1", "--server", srv, "--as", "x"}, "--as cannot be used with --server"},
		{nil, []string{"incidents", "list", "--server", srv, "--data", "d"}, "--data is for direct mode"},
		{nil, []string{"incidents", "deactivate", "INC-1", "--server", srv, "--respond", "r.yaml"}, "--respond is for direct mode"},
		{nil, []string{"history", "sql", "--server", srv, "--clickhouse", "clickhouse://x", "SELECT 1"}, "--clickhouse is for direct mode"},
		{[]string{"BREACHD_TOKEN="}, []string{"incidents", "list", "--server", srv}, "--server needs an API token"},
		{[]string{"BREACHD_TOKEN=t"}, []string{"incidents", "list", "--server", "localhost:8080"}, "is not an http:// or https:// URL"},
		{[]string{"BREACHD_TOKEN=t"}, []string{"incidents", "list", "--server", "http://10.0.0.5:8080"}, "use https://"},
		{nil, []string{"history", "sql", "--server", srv, "SELECT 1"}, "--reason"},
		{[]string{"BREACHD_TOKEN=t"}, []string{"rules", "backtest", "--server", srv, "--from", "1d", "--progress"}, "--progress cannot be used with --server"},
		{nil, []string{"dlq", "stats", "--server", srv}, "unknown flag: --server"},
		{nil, []string{"serve", "--listen", ""}, "--listen is empty"},
		{nil, []string{"serve", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{nil, []string{"run", "--tls-key", "k.pem"}, "--tls-cert and --tls-key go together"},
		{nil, []string{"serve", "--tls-cert", "missing.pem", "--tls-key", "missing-key.pem"}, "--tls-cert missing.pem"},
	}
	// --token with --token-file is refused before the warning about --token; a token file
	// others may read is refused.
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("bd_x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := withToken(t, "", "incidents", "list", "--server", srv, "--token", "t", "--token-file", tokenFile); code != 2 ||
		!strings.Contains(errs, "not both") || strings.Contains(errs, "warning") {
		t.Errorf("--token with --token-file: exit %d\n%s", code, errs)
	}
	if _, errs, code := withToken(t, "", "incidents", "list", "--server", srv, "--token-file", tokenFile); code != 1 || !strings.Contains(errs, "chmod 600") {
		t.Errorf("--token-file of mode 0644: exit %d\n%s", code, errs)
	}
	for _, c := range cases {
		cmd := exec.Command(binary, c.args...)
		cmd.Env = append(os.Environ(), c.env...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), c.want) {
			t.Errorf("breachd %v: exit %d, output %q; want exit 2 with %q", c.args, code, out, c.want)
		}
	}
}

// usersCLI runs `breachd users` on the users file of data.
func usersCLI(t *testing.T, data string, stdin string, args ...string) string {
	t.Helper()
	args = append([]string{"users"}, append(args, "--users", filepath.Join(data, "users.json"))...)
	out, errs, code := breachd(t, []byte(stdin), args...)
	if code != 0 {
		t.Fatalf("breachd %v: exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

// issueToken makes an API token of user valid for ttl.
func issueToken(t *testing.T, data, user, ttl string) string {
	t.Helper()
	out := usersCLI(t, data, "", "token", user, "--label", "test", "--ttl", ttl)
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, auth.TokenPrefix) {
			return f
		}
	}
	t.Fatalf("users token printed no token:\n%s", out)
	return ""
}

// withToken runs breachd with BREACHD_TOKEN set and returns stdout, stderr and the exit code.
func withToken(t *testing.T, token string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "BREACHD_TOKEN="+token)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// sameAsDirect runs args in direct mode, through the server with token, and in direct mode
// again, and fails unless the server's output equals one of the two direct ones (the due
// column counts minutes: a minute may turn between the calls, not twice).
func sameAsDirect(t *testing.T, data, url, token string, args ...string) string {
	t.Helper()
	direct := func() string {
		out, errs, code := breachd(t, nil, append(args, "--data", data)...)
		if code != 0 {
			t.Fatalf("direct breachd %v: exit %d\n%s", args, code, errs)
		}
		return out
	}
	before := direct()
	viaServer, errs, code := withToken(t, token, append(args, "--server", url)...)
	after := direct()
	if code != 0 {
		t.Fatalf("breachd %v --server: exit %d\n%s", args, code, errs)
	}
	if viaServer != before && viaServer != after {
		t.Errorf("breachd %v: server mode printed\n%s\ndirect mode\n%s", args, viaServer, before)
	}
	return viaServer
}

// TestServerMode (needs the merge with packages auth and api): the CLI through the API of a
// running `breachd run --demo` prints what direct mode prints; an org-admin's token sees only
// its organisation; a lookup is audited under the token's identity; an expired token and a
// disabled user's token are refused with the API's message and exit status 1.
func TestServerMode(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// Dead letters for dlq list: a first run on two bad lines (the demo takes no files).
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("not json\n{\"kind\":\"x\",\"id\":\"1\",\"time\":\"2026-11-02T08:00:00Z\",\"org\":\"o.no\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	first, errs, code := breachd(t, nil, "run", "--exit-when-done", "--data", data, "--metrics-addr", "", "--listen", "127.0.0.1:0", bad)
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s\n%s", code, first, errs)
	}
	if _, password := apiOf(t, first); password == "" {
		t.Fatalf("first start printed no one-time admin password:\n%s", first)
	}
	_, out, _, _ := startRun(t, "Input processed", 2*time.Minute, "run", "--demo", "--data", data, "--metrics-addr", "")
	url, _ := apiOf(t, out.String())
	usersCLI(t, data, "soc-password-123\n", "add", "soc1", "--role", "soc", "--password-stdin")
	usersCLI(t, data, "oa-password-123\n", "add", "oa1", "--role", "org-admin", "--org", "bergen.kommune.no", "--password-stdin")
	soc, oa := issueToken(t, data, "soc1", "1h"), issueToken(t, data, "oa1", "1h")

	for _, f := range []string{"json", "table", "csv", "tsv"} {
		sameAsDirect(t, data, url, soc, "incidents", "list", "--all", "--format", f)
	}
	sameAsDirect(t, data, url, soc, "incidents", "register", "--format", "json")

	// Dead letters: listed as direct mode lists them; replay of one letter by its number.
	var letters []map[string]any
	if err := json.Unmarshal([]byte(sameAsDirect(t, data, url, soc, "dlq", "list", "--format", "json")), &letters); err != nil || len(letters) != 2 {
		t.Fatalf("dlq list --server: %d letters (%v), want the 2 bad lines", len(letters), err)
	}
	sameAsDirect(t, data, url, soc, "dlq", "list")
	sameAsDirect(t, data, url, soc, "dlq", "list", "--since", "1h", "--reason", "JSON", "--format", "json")
	seq := strconv.FormatFloat(letters[0]["seq"].(float64), 'f', -1, 64)
	if rep, errs, code := withToken(t, soc, "dlq", "replay", "--server", url, "--dry-run", seq); code != 1 || !strings.Contains(rep+errs, "rejected") {
		t.Errorf("dlq replay --server --dry-run %s (a bad line: rejected again, exit 1): exit %d\n%s%s", seq, code, rep, errs)
	}

	// The org-admin sees Bergen's incidents, as direct mode lists them with --org.
	var all, bergen []map[string]any
	viaOA, errs, code := withToken(t, oa, "incidents", "list", "--all", "--format", "json", "--server", url)
	if code != 0 {
		t.Fatalf("org-admin list: exit %d\n%s", code, errs)
	}
	if err := json.Unmarshal([]byte(viaOA), &bergen); err != nil {
		t.Fatal(err)
	}
	directAll, _, _ := breachd(t, nil, "incidents", "list", "--all", "--format", "json", "--data", data)
	if err := json.Unmarshal([]byte(directAll), &all); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, inc := range all {
		if inc["org"] == "bergen.kommune.no" {
			want++
		}
	}
	if want == 0 || want == len(all) {
		t.Fatalf("the demo's incidents are not in Bergen and elsewhere (%d of %d in Bergen): the test shows nothing", want, len(all))
	}
	for _, inc := range bergen {
		if inc["org"] != "bergen.kommune.no" {
			t.Errorf("org-admin of bergen.kommune.no sees %v of %v", inc["id"], inc["org"])
		}
	}
	if len(bergen) != want {
		t.Errorf("org-admin sees %d incidents, Bergen has %d", len(bergen), want)
	}

	// A lookup through the API is audited as the token's user, not as anyone's claim.
	account := all[0]["account"].(string)
	if _, errs, code := withToken(t, soc, "history", "logins", "--server", url, "--account", account, "--from", "30d", "--reason", "server-mode audit test"); code != 0 {
		t.Fatalf("history logins --server: exit %d\n%s", code, errs)
	}
	audit, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "json",
		"SELECT * FROM audit WHERE reason = 'server-mode audit test'")
	if code != 0 {
		t.Fatalf("read the audit log: exit %d\n%s", code, errs)
	}
	if !strings.Contains(audit, `"soc1`) || !strings.Contains(audit, "breachd:local") || strings.Contains(audit, `"`+os.Getenv("USER")+`"`) {
		t.Errorf("the lookup is not audited as soc1@breachd:local:\n%s", audit)
	}
	if _, errs, code := withToken(t, soc, "history", "logins", "--server", url, "--as", "dpo@datatilsynet.no", "--account", account, "--from", "30d", "--reason", "r"); code != 2 || !strings.Contains(errs, "--as cannot be used with --server") {
		t.Errorf("--as in server mode: exit %d\n%s", code, errs)
	}

	// Refused tokens: expired, and of a disabled user.
	short := issueToken(t, data, "soc1", "1s")
	time.Sleep(1500 * time.Millisecond) // the token's own lifetime: what is tested is its refusal after it
	if _, errs, code := withToken(t, short, "incidents", "list", "--server", url); code != 1 || !strings.Contains(errs, "(unauthenticated, HTTP 401)") {
		t.Errorf("expired token: exit %d\n%s", code, errs)
	}
	usersCLI(t, data, "", "disable", "oa1")
	if _, errs, code := withToken(t, oa, "incidents", "list", "--server", url); code != 1 || !strings.Contains(errs, "(unauthenticated, HTTP 401)") {
		t.Errorf("token of a disabled user: exit %d\n%s", code, errs)
	}
}
