package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"breachd/api"
	"breachd/auth"
	"breachd/notify"
)

// TestReportLanguage: the Markdown draft comes in English (the default) or Norwegian bokmål,
// each with every section, named after the validated id only; another language is a 400.
func TestReportLanguage(t *testing.T) {
	e := newEnv(t, nil)
	soc := principalName(auth.RoleSOC, bergen)
	id := e.byAccount[accountOf[bergen]].ID
	for _, c := range []struct {
		query, lang, file, title string
	}{
		{"", "en", "art33-" + id + ".md", "# Notification of a personal data breach"},
		{"&lang=en", "en", "art33-" + id + ".md", "# Notification of a personal data breach"},
		{"&lang=nb", "nb", "art33-" + id + ".nb.md", "# Melding om brudd på personopplysningssikkerheten"},
	} {
		resp, body := e.do("GET", "/api/incidents/"+id+"/report?format=markdown"+c.query, soc, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("lang %q: %s %s", c.query, resp.Status, body)
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="`+c.file+`"` {
			t.Errorf("lang %q: Content-Disposition %q, want %s", c.query, cd, c.file)
		}
		if cl := resp.Header.Get("Content-Language"); cl != c.lang {
			t.Errorf("lang %q: Content-Language %q", c.query, cl)
		}
		md := string(body)
		if !strings.HasPrefix(md, c.title) {
			t.Errorf("lang %q: the draft starts %q", c.query, md[:min(len(md), 80)])
		}
		for _, h := range notify.ReportHeadingsIn(c.lang) {
			if !strings.Contains(md, "\n## "+h+"\n") {
				t.Errorf("lang %q: no section %q", c.query, h)
			}
		}
	}
	// The JSON is the same whatever the language.
	resp, body := e.do("GET", "/api/incidents/"+id+"/report?lang=nb", soc, "")
	var rep notify.Report
	if err := json.Unmarshal(body, &rep); resp.StatusCode != http.StatusOK || err != nil || rep.Incident != id {
		t.Errorf("JSON with lang=nb: %s %v %q", resp.Status, err, rep.Incident)
	}
	for _, bad := range []string{"de", "nb%2F..%2F..%2Fx", "NB"} {
		resp, body := e.do("GET", "/api/incidents/"+id+"/report?format=markdown&lang="+bad, soc, "")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), api.CodeBadRequest) || !strings.Contains(string(body), "lang") {
			t.Errorf("lang=%s: %s %s, want 400 naming lang", bad, resp.Status, body)
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != "" {
			t.Errorf("lang=%s: Content-Disposition %q on an error", bad, cd)
		}
	}
}
