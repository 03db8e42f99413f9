package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// emailLike matches an e-mail-like identifier (ePPNs are user@realm).
var emailLike = regexp.MustCompile(`[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(\.[\p{L}\p{N}-]+)+`)

// TestMonitoringEndpointsRevealNoAccounts runs the demo day through the whole pipeline, plus
// HTTP-ingested events and dead letters of a known account, and reads every monitoring
// endpoint anyone on the network may reach — /metrics and /healthz, and the HTTP ingest's
// /healthz and /readyz: none may name an account of the day (ePPNs, guardians' hashed ids) or
// anything e-mail-like. Labels of bounded cardinality only.
func TestMonitoringEndpointsRevealNoAccounts(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tokens := filepath.Join(dir, "tokens")
	const token = "0123456789abcdef0123"
	if err := os.WriteFile(tokens, []byte("lms "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, errb := startService(t, data, "--demo", "--metrics-addr", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--http-token-file", tokens)
	out := cmd.Stdout.(*syncBuffer)
	var banner, ingest []string
	for deadline := time.Now().Add(time.Minute); banner == nil || ingest == nil; time.Sleep(50 * time.Millisecond) {
		banner = regexp.MustCompile(`Metrics\s+(http://\S+)/metrics`).FindStringSubmatch(out.String())
		ingest = regexp.MustCompile(`HTTP ingest\s+POST (http://\S+)/v1/events`).FindStringSubmatch(out.String())
		if time.Now().After(deadline) {
			t.Fatalf("no metrics or HTTP ingest address printed:\n%s", out.String())
		}
	}
	metricsURL, ingestURL := banner[1], ingest[1]

	// A known account, through HTTP: a valid login, a record that is dead-lettered, a
	// record that is not JSON at all.
	const known = "kari.nordmann@bergen.kommune.no"
	body := `{"kind":"auth","id":"priv-1","time":"2026-11-02T08:01:13Z","org":"bergen.kommune.no","user":"` + known + `","service":"https://lms.example.no/saml","result":"success"}
{"kind":"auth","id":"priv-2","time":"yesterday","org":"bergen.kommune.no","user":"` + known + `","service":"s","result":"success"}
not json ` + known + "\n"
	req, _ := http.NewRequest(http.MethodPost, ingestURL+"/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST: %d", res.StatusCode)
	}
	// The HTTP input never ends, so the pipeline never reports idle: wait for the demo's five
	// incidents, three with deactivation requests, and the known account's login in history.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		got, _, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "tsv",
			"SELECT (SELECT count() FROM incidents FINAL) AS i, (SELECT count() FROM auth_events WHERE id = 'priv-1') AS k")
		if code == 0 && got == "i\tk\n5\t1\n" && strings.Count(out.String(), "deactivation requested") == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo was not processed in 2 minutes (%q)\n%s\n%s", got, out.String(), errb.String())
		}
	}

	// Every account the history holds, and those of the incidents.
	got, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "tsv", "--max-rows", "1000000",
		"SELECT DISTINCT a FROM (SELECT user AS a FROM auth_events UNION ALL SELECT actor FROM access_events "+
			"UNION ALL SELECT subject FROM access_events UNION ALL SELECT user FROM directory_events "+
			"UNION ALL SELECT account FROM incidents) WHERE a != ''")
	if code != 0 {
		t.Fatalf("history sql: exit %d\n%s", code, errs)
	}
	accounts := strings.Split(strings.TrimSpace(strings.TrimPrefix(got, "a\n")), "\n")
	if len(accounts) < 100 || !strings.Contains(got, "\n"+known+"\n") {
		t.Fatalf("history holds %d accounts (known one present: %v); want the demo's and %s", len(accounts), strings.Contains(got, known), known)
	}

	pages := map[string]string{}
	for _, u := range []string{metricsURL + "/metrics", metricsURL + "/healthz", ingestURL + "/healthz", ingestURL + "/readyz"} {
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", u, res.StatusCode, b)
		}
		pages[u] = string(b)
	}
	if m := pages[metricsURL+"/metrics"]; !strings.Contains(m, `breach_ingest_events_rejected_total{source="http:lms"} 2`) ||
		!strings.Contains(m, "breach_detect_alerts_total") || !strings.Contains(m, "breach_respond_requests_total") {
		t.Fatalf("/metrics lacks the pipeline's metrics:\n%s", m)
	}
	for u, page := range pages {
		for _, a := range accounts {
			if strings.Contains(page, a) {
				t.Errorf("GET %s names the account %q", u, a)
			}
		}
		if m := emailLike.FindAllString(page, 5); m != nil {
			t.Errorf("GET %s holds e-mail-like identifiers: %q", u, m)
		}
		if bytes.Contains([]byte(page), []byte(known)) {
			t.Errorf("GET %s names %s", u, known)
		}
	}
}
