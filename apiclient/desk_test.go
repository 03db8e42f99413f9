package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
