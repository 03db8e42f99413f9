package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"breachd/event"
	"breachd/notify"
	"breachd/output"
)

// TestShowPrintsAsDirect: an incident the API sends (notify.Shown as JSON) prints as direct
// mode prints it, in both formats.
func TestShowPrintsAsDirect(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	inc := &event.Incident{ID: "INC-20261102-0000abcd", Org: "bergen.kommune.no", Account: "kari@bergen.kommune.no",
		State: event.IncidentStates[0], Opened: at, Deadline: at.Add(72 * time.Hour), AlertCount: 3,
		Rules:    map[string]int64{"bulk-export-sensitive": 2, "credential-stuffing": 1},
		Subjects: []string{"ola@bergen.kommune.no"},
		Timeline: []event.TimelineEntry{{At: at, Actor: "notify", Kind: "opened", Text: "opened"}},
		Steps:    map[int]event.Step{3: {At: at, Actor: "notify", Note: "evidence"}}}
	want := notify.Show(inc, at.Add(time.Hour))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/incidents/"+inc.ID {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(want)
	}))
	defer srv.Close()
	c, err := New(Config{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Desk{C: c}.Show(context.Background(), inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range output.Documents {
		var a, b bytes.Buffer
		if err := output.Write(&a, f, want); err != nil {
			t.Fatal(err)
		}
		if err := output.Write(&b, f, got); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Errorf("format %s differs:\ndirect:\n%s\nserver:\n%s", f, a.String(), b.String())
		}
	}
}

// TestReportLanguage: the draft the API sends is written with its Markdown in the language
// asked for; a language breachd does not know is refused before anything is sent.
func TestReportLanguage(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	inc := &event.Incident{ID: "INC-20261102-0000abcd", Org: "bergen.kommune.no", Account: "kari@bergen.kommune.no",
		State: event.StateDetected, Opened: at, Aware: at, Deadline: at.Add(event.ReportWindow)}
	rep, err := notify.BuildReport(inc, nil, nil, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		if r.URL.Path != "/api/incidents/"+inc.ID+"/report" {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodGet {
			_ = json.NewEncoder(w).Encode(rep)
		}
	}))
	defer srv.Close()
	c, err := New(Config{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	d := Desk{C: c}
	dir := t.TempDir()
	w, err := d.Report(context.Background(), notify.ReportRequest{ID: inc.ID, Dir: dir, Lang: "nb", Change: notify.ReportChange{DPO: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(w.Markdown)
	if err != nil || filepath.Base(w.Markdown) != inc.ID+"-art33.nb.md" || !strings.HasPrefix(string(md), "# Melding om brudd på personopplysningssikkerheten") {
		t.Errorf("Norwegian draft %s (%v):\n%.200s", w.Markdown, err, md)
	}
	requests = 0
	if _, err := d.Report(context.Background(), notify.ReportRequest{ID: inc.ID, Dir: dir, Lang: "de", Change: notify.ReportChange{DPO: "x"}}); err == nil || requests != 0 {
		t.Errorf("lang de: %v after %d requests, want an error and none", err, requests)
	}
}
