package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"breachd/output"
)

// direct is a result as direct mode has it: times, ints, nil, text that merely looks like a
// date, a list.
func direct() *output.Rows {
	opened := time.Date(2026, 11, 2, 8, 15, 30, 123_000_000, time.UTC)
	rows := &output.Rows{Columns: []string{"id", "opened", "alerts", "aware", "summary", "tags"}, Footer: "3 incidents"}
	for i := range 5 {
		rows.Rows = append(rows.Rows, []any{"INC-" + strconv.Itoa(i), opened.Add(time.Duration(i) * time.Hour), i * 1000, nil,
			"2026-11-02 login from NO", []string{"a", "b"}})
	}
	return rows
}

// pagedServer serves rows as the API's row result, size rows a page, and records what it saw.
func pagedServer(t *testing.T, rows *output.Rows, size int, seen *[]*http.Request) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*seen = append(*seen, r)
		start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		end := min(start+size, len(rows.Rows))
		objs := []map[string]any{}
		for _, row := range rows.Rows[start:end] {
			m := map[string]any{}
			for i, c := range rows.Columns {
				m[c] = row[i]
			}
			objs = append(objs, m)
		}
		body := map[string]any{"columns": rows.Columns, "rows": objs, "footer": rows.Footer, "total": len(rows.Rows)}
		if end < len(rows.Rows) {
			body["next"] = strconv.Itoa(end)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}))
}

// TestRowsPrintAsDirect: a row result fetched over several pages prints exactly as the rows
// of direct mode, in every format.
func TestRowsPrintAsDirect(t *testing.T) {
	want := direct()
	var seen []*http.Request
	srv := pagedServer(t, want, 2, &seen)
	defer srv.Close()
	c, err := New(Config{Server: srv.URL, Token: "tok-1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Rows(context.Background(), http.MethodGet, "/api/incidents", map[string][]string{"all": {"true"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Fatalf("%d requests, want 3 pages", len(seen))
	}
	for _, r := range seen {
		if r.Header.Get("Authorization") != "Bearer tok-1" || r.URL.Query().Get("all") != "true" {
			t.Errorf("request %s: Authorization %q", r.URL, r.Header.Get("Authorization"))
		}
	}
	for _, f := range output.Formats {
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
	if _, ok := got.Rows[0][1].(time.Time); !ok {
		t.Errorf("time column decoded as %T", got.Rows[0][1])
	}
	if _, ok := got.Rows[0][4].(string); !ok {
		t.Errorf("text that looks like a date decoded as %T", got.Rows[0][4])
	}
}

// TestErrors: the API's error body becomes an *Error reading "<message> (<code>, HTTP
// <status>)"; an answer that is not the API's names the status.
func TestErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/incidents":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthenticated","message":"the token has expired"}}`))
		case "/loop":
			_ = json.NewEncoder(w).Encode(map[string]any{"columns": []string{"a"}, "rows": []any{}, "next": "same"})
		default:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>proxy error</html>"))
		}
	}))
	defer srv.Close()
	c, err := New(Config{Server: srv.URL + "/", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = c.Rows(ctx, http.MethodGet, "/api/incidents", nil, nil)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "unauthenticated" || err.Error() != "the token has expired (unauthenticated, HTTP 401)" {
		t.Errorf("401: %v", err)
	}
	err = c.Do(ctx, http.MethodGet, "/elsewhere", nil, nil, nil)
	if !errors.As(err, &ae) || ae.Status != 502 || strings.Contains(err.Error(), "<html>") || !strings.Contains(err.Error(), "HTTP 502") {
		t.Errorf("502: %v", err)
	}
	if _, err := c.Rows(ctx, http.MethodGet, "/loop", nil, nil); err == nil || !strings.Contains(err.Error(), "same cursor twice") {
		t.Errorf("a cursor repeated: %v", err)
	}
}

// TestTotalMismatch: rows that do not add up to the server's total are an error, not a short
// listing.
func TestTotalMismatch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"columns":["a"],"rows":[{"a":1}],"total":2}`))
	}))
	defer srv.Close()
	c, _ := New(Config{Server: srv.URL})
	if _, err := c.Rows(context.Background(), http.MethodGet, "/x", nil, nil); err == nil || !strings.Contains(err.Error(), "counted 2 rows but sent 1") {
		t.Errorf("total 2, 1 row: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []Config{{Server: "ftp://x"}, {Server: "localhost:8080"}, {Server: "https://u:p@x"}, {Server: "https://x", Token: "a b"},
		{Server: "https://x", CACert: "/nonexistent.pem"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// TestTokenStaysWithTheServer: plain http:// is refused unless the host is loopback, and a
// redirect is not followed, so the token never reaches another host.
func TestTokenStaysWithTheServer(t *testing.T) {
	for server, ok := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://[::1]:8080": true, "http://localhost:8080": true, "https://breachd.example.no": true,
		"http://breachd.example.no": false, "http://10.0.0.5:8080": false, "http://127.0.0.1.example.no": false,
	} {
		_, err := New(Config{Server: server, Token: "t"})
		if (err == nil) != ok {
			t.Errorf("New(%s): %v", server, err)
		}
		if err != nil && !strings.Contains(err.Error(), "use https://") {
			t.Errorf("New(%s): %v, want a message that says to use https", server, err)
		}
	}
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect was followed (Authorization %q)", r.Header.Get("Authorization"))
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/api/me", http.StatusFound)
	}))
	defer srv.Close()
	c, err := New(Config{Server: srv.URL, Token: "bd_secret"})
	if err != nil {
		t.Fatal(err)
	}
	var e *Error
	if err := c.Do(context.Background(), http.MethodGet, "/api/me", nil, nil, nil); !errors.As(err, &e) || e.Status != http.StatusFound || !strings.Contains(e.Message, "not followed") {
		t.Errorf("redirected call: %v", err)
	}
}
