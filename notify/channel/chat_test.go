package channel

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"breachd/retry"
)

// chatServer records the JSON bodies posted to it and answers status.
func chatServer(t *testing.T, status int) (*httptest.Server, *[]map[string]any) {
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			http.Error(w, "content type", http.StatusUnsupportedMediaType)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		bodies = append(bodies, v)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, &bodies
}

// dig walks a decoded JSON value by map keys and slice indexes.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: not an object: %v", p, v)
			}
			v = m[p]
		case int:
			s, ok := v.([]any)
			if !ok || p >= len(s) {
				t.Fatalf("at [%d]: not an array that long: %v", p, v)
			}
			v = s[p]
		}
	}
	return v
}

func TestSlackPayloadShape(t *testing.T) {
	srv, bodies := chatServer(t, http.StatusOK)
	c, err := NewChat("slack", FlavourSlack, srv.URL+"/services/T0/B0/tok", HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage()
	m.Title = "<@U123> <https://evil|click> & more"
	m.Link = "https://breachd.example.org/incidents/" + m.Incident.ID
	if err := c.Send(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	if len(*bodies) != 1 {
		t.Fatalf("bodies = %d", len(*bodies))
	}
	b := (*bodies)[0]
	text := dig(t, b, "text").(string)
	if strings.ContainsAny(text, "<>") || !strings.Contains(text, "&lt;@U123&gt;") || !strings.Contains(text, "&amp;") {
		t.Fatalf("fallback text not escaped: %q", text)
	}
	if got := dig(t, b, "blocks", 0, "type"); got != "header" {
		t.Fatalf("block 0 type = %v", got)
	}
	head := dig(t, b, "blocks", 0, "text").(map[string]any)
	if head["type"] != "plain_text" || !strings.HasPrefix(head["text"].(string), "[HIGH] INC-20261105-1a2b3c4d opened") {
		t.Fatalf("header = %v", head)
	}
	fields := dig(t, b, "blocks", 1, "fields").([]any)
	if len(fields) == 0 || len(fields) > 10 {
		t.Fatalf("fields = %d, want 1..10", len(fields))
	}
	var all []string
	for i := range fields {
		if dig(t, fields[i], "type") != "plain_text" {
			t.Fatalf("field %d not plain_text", i)
		}
		all = append(all, dig(t, fields[i], "text").(string))
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{"Account: ødegård@bærum.no", "Severity: high", "Rules: teacher-own-child (2), pupil-as-teacher (1)", "Deadline: 2026-11-08 08:00 UTC"} {
		if !strings.Contains(joined, want) {
			t.Errorf("fields lack %q:\n%s", want, joined)
		}
	}
	if got := dig(t, b, "blocks", 2, "text", "text"); got != m.Text {
		t.Fatalf("text block = %v", got)
	}
	if got := dig(t, b, "blocks", 3, "elements", 0, "url"); got != m.Link {
		t.Fatalf("button url = %v", got)
	}
}

func TestTeamsPayloadShape(t *testing.T) {
	srv, bodies := chatServer(t, http.StatusAccepted) // Workflows answer 202
	c, err := NewChat("teams", FlavourTeams, srv.URL+"/workflows/abc/triggers/manual/paths/invoke?sig=tok", HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage()
	m.Link = "https://breachd.example.org/incidents/" + m.Incident.ID
	if err := c.Send(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	b := (*bodies)[0]
	if dig(t, b, "type") != "message" {
		t.Fatalf("type = %v", b["type"])
	}
	att := dig(t, b, "attachments", 0)
	if dig(t, att, "contentType") != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("contentType = %v", dig(t, att, "contentType"))
	}
	if v, ok := att.(map[string]any)["contentUrl"]; !ok || v != nil {
		t.Fatalf("contentUrl = %v (present %v), want null", v, ok)
	}
	card := dig(t, att, "content")
	if dig(t, card, "type") != "AdaptiveCard" || dig(t, card, "version") != "1.4" {
		t.Fatalf("card = %v", card)
	}
	if dig(t, card, "body", 0, "type") != "TextBlock" || dig(t, card, "body", 0, "color") != "Attention" {
		t.Fatalf("title block = %v", dig(t, card, "body", 0))
	}
	facts := dig(t, card, "body", 1, "facts").([]any)
	found := false
	for _, f := range facts {
		if dig(t, f, "title") == "Account" && dig(t, f, "value") == "ødegård@bærum.no" {
			found = true
		}
	}
	if dig(t, card, "body", 1, "type") != "FactSet" || !found {
		t.Fatalf("fact set = %v", dig(t, card, "body", 1))
	}
	if dig(t, card, "actions", 0, "type") != "Action.OpenUrl" || dig(t, card, "actions", 0, "url") != m.Link {
		t.Fatalf("actions = %v", dig(t, card, "actions"))
	}
}

func TestChatErrorsHideURL(t *testing.T) {
	srv, _ := chatServer(t, http.StatusNotFound)
	c, _ := NewChat("slack", FlavourSlack, srv.URL+"/services/T0/B0/supersecrettoken", HTTPOptions{})
	err := c.Send(ctxT(t), testMessage())
	if err == nil || !retry.IsPermanent(err) || strings.Contains(err.Error(), "supersecrettoken") {
		t.Fatalf("err = %v: want permanent, without the token", err)
	}
	srv.Close() // now a network error
	err = c.Send(ctxT(t), testMessage())
	if err == nil || retry.IsPermanent(err) || strings.Contains(err.Error(), "supersecrettoken") {
		t.Fatalf("err = %v: want transient, without the token", err)
	}
}
