package httpin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"breachd/bus"
	"breachd/event"
	"breachd/ingest"
	"breachd/ingest/httpin"
)

// Every accepted body shape stores each of its events once.
func TestPostFormats(t *testing.T) {
	e := newEnv(t, httpin.Config{})
	var all []string
	cases := []struct {
		name        string
		contentType string
		encoding    string
		body        func(ls []string) []byte
		chunked     bool
	}{
		{"ndjson", "application/x-ndjson", "", ndjson, false},
		{"jsonl with charset", "application/jsonl; charset=utf-8", "", ndjson, false},
		{"json array", "application/json", "", array, false},
		{"json lines sent as application/json", "application/json", "", ndjson, false},
		{"no content type, array", "", "", array, false},
		{"CRLF, blank lines, no final newline", "application/x-ndjson", "", func(ls []string) []byte {
			return []byte("\r\n" + strings.Join(ls, "\r\n\r\n  \r\n"))
		}, false},
		{"BOM and spaces around an array", "application/json", "", func(ls []string) []byte {
			return append([]byte("\xef\xbb\xbf \n"), append(array(ls), " \n"...)...)
		}, false},
		{"gzip ndjson", "application/x-ndjson", "gzip", ndjson, false},
		{"gzip array, chunked", "application/json", "gzip", array, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ls, ids := lines(fmt.Sprintf("fmt%d", i), 25)
			body := c.body(ls)
			if c.encoding == "gzip" {
				body = gz(t, body)
			}
			a := post(t, e.url, request{token: tokenA, contentType: c.contentType, encoding: c.encoding, body: body, chunked: c.chunked})
			if a.code != http.StatusOK || a.resp.Accepted != 25 || a.resp.Rejected != 0 || a.resp.Duplicates != 0 || len(a.resp.Errors) != 0 {
				t.Fatalf("answer %d %+v, want 200 with 25 accepted", a.code, a.resp)
			}
			all = append(all, ids...)
			wantOnce(t, e.bus, all)
		})
	}
	// A single object, pretty-printed over several lines.
	one := strings.Replace(line("single-1"), `,"org"`, ",\n  \"org\"", 1)
	if a := post(t, e.url, request{token: tokenA, contentType: "application/json", body: []byte(one)}); a.code != 200 || a.resp.Accepted != 1 {
		t.Fatalf("single pretty object: %d %+v", a.code, a.resp)
	}
	wantOnce(t, e.bus, append(all, "single-1"))
}

// Valid and invalid records mixed: 200, the reasons per record, every invalid record on
// DEADLETTER with the client's name, and resending the body stores nothing twice.
func TestPostMixedAndTwice(t *testing.T) {
	e := newEnv(t, httpin.Config{})
	ls, ids := lines("mix", 6)
	bad := map[int]string{ // position among the records → the field the reason names
		1: "not json",
		3: `{"kind":"access","id":"mix-bad-3","time":"2026-11-02T08:03:50Z","org":"o"}`,
		6: `{"kind":"auth","id":"mix-bad-6","time":"noon","org":"o","user":"u","service":"s","result":"success"}`,
	}
	wantReason := map[int]string{1: "not a JSON object", 3: "action", 6: "time"}
	var recs []string
	for i, j := 0, 0; i < len(ls)+len(bad); i++ {
		if b, ok := bad[i]; ok {
			recs = append(recs, b)
			continue
		}
		recs = append(recs, ls[j])
		j++
	}
	body := ndjson(recs)
	for round := 1; round <= 2; round++ {
		a := post(t, e.url, request{token: tokenB, contentType: "application/x-ndjson", body: body})
		wantDup := 0
		if round == 2 {
			wantDup = 6
		}
		if a.code != 200 || a.resp.Accepted != 6 || a.resp.Rejected != 3 || a.resp.Duplicates != wantDup || a.resp.Message == "" {
			t.Fatalf("round %d: %d %+v, want 200, 6 accepted, 3 rejected, %d duplicates and a message", round, a.code, a.resp, wantDup)
		}
		if len(a.resp.Errors) != 3 {
			t.Fatalf("round %d: errors %+v, want 3", round, a.resp.Errors)
		}
		for _, re := range a.resp.Errors {
			if _, ok := bad[re.Index]; !ok || re.Line != re.Index+1 || !strings.Contains(re.Reason, wantReason[re.Index]) {
				t.Errorf("round %d: error %+v does not match record %d (want line %d, reason naming %q)", round, re, re.Index, re.Index+1, wantReason[re.Index])
			}
		}
		wantOnce(t, e.bus, ids)
		dlq := e.bus.Messages(t, bus.StreamDLQ)
		if len(dlq) != 3 {
			t.Fatalf("round %d: DEADLETTER holds %d, want 3 (a resent body must not double them)", round, len(dlq))
		}
		for _, m := range dlq {
			if m.Subject != "breachd.dlq.http:idp" || m.Header.Get(bus.HeaderSource) != "http:idp" {
				t.Errorf("dead letter on %s from %q, want the client's name idp", m.Subject, m.Header.Get(bus.HeaderSource))
			}
			var line int
			where := m.Header.Get("Breachd-Where")
			if _, err := fmt.Sscanf(where[strings.LastIndexByte(where, ':')+1:], "%d", &line); err != nil || bad[line-1] != string(m.Data) {
				t.Errorf("dead letter at %q holds %q, not that line of the body", where, m.Data)
			}
			if m.Header.Get(bus.HeaderReason) == "" {
				t.Errorf("dead letter at %q has no reason", where)
			}
		}
	}
}

// Arrays report element indexes and no line; the list of reasons is bounded.
func TestPostArrayErrorsBounded(t *testing.T) {
	e := newEnv(t, httpin.Config{MaxErrors: 5})
	var recs []string
	for i := range 12 {
		recs = append(recs, fmt.Sprintf(`{"kind":"nope","id":"arr-%d","time":"2026-11-02T08:03:50Z","org":"o"}`, i))
	}
	a := post(t, e.url, request{token: tokenA, contentType: "application/json", body: array(recs)})
	if a.code != 200 || a.resp.Rejected != 12 || len(a.resp.Errors) != 5 || !a.resp.ErrorsTruncated {
		t.Fatalf("%d %+v, want 200, 12 rejected, 5 errors listed and truncated", a.code, a.resp)
	}
	for i, re := range a.resp.Errors {
		if re.Index != i || re.Line != 0 || !strings.Contains(re.Reason, "kind") {
			t.Errorf("error %d = %+v", i, re)
		}
	}
	if n := e.bus.Count(t, bus.StreamDLQ); n != 12 {
		t.Errorf("DEADLETTER holds %d, want 12", n)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, httpin.Config{})
	body := ndjson([]string{line("auth-1")})
	for _, c := range []struct{ name, header string }{
		{"none", ""},
		{"wrong token", "Bearer token-x-0123456789abcdef"},
		{"prefix of a token", "Bearer " + tokenA[:20]},
		{"basic scheme", "Basic " + tokenA},
		{"empty bearer", "Bearer "},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/events", bytes.NewReader(body))
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("status %d, WWW-Authenticate %q; want 401 with a Bearer challenge", res.StatusCode, res.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if n := e.bus.Count(t, bus.StreamEvents); n != 0 {
		t.Fatalf("EVENTS holds %d after unauthenticated posts, want 0", n)
	}
	// The scheme is case-insensitive; the second token works and names its client.
	if a := post(t, e.url, request{token: tokenB, body: []byte(`{"kind":"x"}`)}); a.code != 200 || a.resp.Rejected != 1 {
		t.Fatalf("%d %+v", a.code, a.resp)
	}
	if m := e.bus.Messages(t, bus.StreamDLQ); len(m) != 1 || m[0].Header.Get(bus.HeaderSource) != "http:idp" {
		t.Errorf("dead letter source %v, want http:idp", m)
	}
}

func TestNewValidates(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  httpin.Config
		want string // "" = valid
	}{
		{"no tokens", httpin.Config{}, "no tokens"},
		{"insecure", httpin.Config{Insecure: true}, ""},
		{"short secret", httpin.Config{Tokens: []httpin.Token{{Name: "a", Secret: "short"}}}, "shorter"},
		{"bad name", httpin.Config{Tokens: []httpin.Token{{Name: "a.b", Secret: tokenA}}}, "name"},
		{"same name", httpin.Config{Tokens: []httpin.Token{{Name: "a", Secret: tokenA}, {Name: "a", Secret: tokenB}}}, "twice"},
		{"same secret", httpin.Config{Tokens: []httpin.Token{{Name: "a", Secret: tokenA}, {Name: "b", Secret: tokenA}}}, "same secret"},
		{"ok", httpin.Config{Tokens: testTokens}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Logger = discard
			_, err := httpin.New(c.cfg)
			if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("New = %v, want error containing %q", err, c.want)
			}
			if err != nil && (strings.Contains(err.Error(), tokenA) || strings.Contains(err.Error(), "short\"")) {
				t.Errorf("error reveals a secret: %v", err)
			}
		})
	}
}

func TestParseTokens(t *testing.T) {
	got, err := httpin.ParseTokens(strings.NewReader("# clients\nlms  " + tokenA + "\n\n\tidp\t" + tokenB + "  \n"))
	if err != nil || fmt.Sprint(got) != fmt.Sprint(testTokens) {
		t.Fatalf("ParseTokens = %v, %v; want %v", got, err, testTokens)
	}
	if _, err := httpin.ParseTokens(strings.NewReader("lms\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("one field: %v, want an error naming line 1", err)
	}
}

// Without tokens (explicitly insecure), requests need no Authorization and are submitted
// under the source "http".
func TestInsecure(t *testing.T) {
	e := newEnv(t, httpin.Config{Insecure: true})
	if a := post(t, e.url, request{body: []byte(line("open-1") + "\nbad\n")}); a.code != 200 || a.resp.Accepted != 1 || a.resp.Rejected != 1 {
		t.Fatalf("%d %+v", a.code, a.resp)
	}
	if m := e.bus.Messages(t, bus.StreamDLQ); len(m) != 1 || m[0].Header.Get(bus.HeaderSource) != "http" {
		t.Errorf("dead letters %v, want one from source http", m)
	}
	wantOnce(t, e.bus, []string{"open-1"})
}

// A record the pipeline rejects for a reason only it knows (its clock: an event far in the
// future) is listed with that reason, like one the parser rejects (issue 10, items 7 and 8).
func TestPostReasonsFromThePipeline(t *testing.T) {
	e := newEnv(t, httpin.Config{})
	future := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	recs := []string{
		line("pipe-1"),
		strings.Replace(line("pipe-2"), "2026-11-02T08:03:50Z", future, 1),
		strings.Replace(line("pipe-3"), "kari@bergen.kommune.no", `kari\u0000@bergen.kommune.no`, 1),
	}
	a := post(t, e.url, request{token: tokenA, contentType: "application/x-ndjson", body: ndjson(recs)})
	if a.code != 200 || a.resp.Accepted != 1 || a.resp.Rejected != 2 || len(a.resp.Errors) != 2 {
		t.Fatalf("%d %+v, want 1 accepted and 2 rejected with reasons", a.code, a.resp)
	}
	for i, want := range []string{"time: ", "actor: contains the control character U+0000"} {
		if re := a.resp.Errors[i]; re.Index != i+1 || !strings.Contains(re.Reason, want) {
			t.Errorf("error %+v, want record %d with %q", re, i+1, want)
		}
	}
}

// Each record is read once, by the Sink, whether the body is all valid or partly rejected: the
// reasons the client gets are those the Sink gave (Result.Refusals), located across the
// Sink's batches, and equal to the dead letters' reasons. The endpoint reads with the canonical
// parser unless configured otherwise (here a counting wrapper around it).
func TestEachRecordReadOnce(t *testing.T) {
	var mu sync.Mutex
	reads := map[string]int{}
	counting := ingest.Parser(func(data []byte) (event.Event, error) {
		mu.Lock()
		reads[string(data)]++
		mu.Unlock()
		return ingest.Canonical()(data)
	})
	e := newEnv(t, httpin.Config{Batch: 2, Format: counting})
	ls, ids := lines("once", 4)
	noID := `{"kind":"auth","time":"2026-11-02T08:01:13Z","org":"o.no","user":"kari@o.no","service":"https://lms","result":"success"}`
	recs := []string{ls[0], "not json", ls[1], ls[2], `{"kind":"nope","id":"once-bad","time":"2026-11-02T08:03:50Z","org":"o"}`, noID, ls[3]}
	for round, body := range [][]byte{ndjson(ls), ndjson(recs)} {
		a := post(t, e.url, request{token: tokenA, contentType: "application/x-ndjson", body: body})
		if a.code != 200 {
			t.Fatalf("round %d: %d %+v", round+1, a.code, a.resp)
		}
		if round == 1 && (a.resp.Accepted != 5 || a.resp.Rejected != 2 || len(a.resp.Errors) != 2 ||
			a.resp.Errors[0].Index != 1 || a.resp.Errors[1].Index != 4) {
			t.Fatalf("round 2: %+v, want records 1 and 4 rejected, 5 accepted", a.resp)
		}
		if round == 1 {
			dead := e.bus.Messages(t, bus.StreamDLQ)
			for i, re := range a.resp.Errors {
				if len(dead) != 2 || re.Reason != dead[i].Header.Get(bus.HeaderReason) || re.Line != re.Index+1 {
					t.Errorf("error %+v, want the reason of dead letter %d and line %d", re, i, re.Index+1)
				}
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range recs {
		want := 1
		if slices.Contains(ls, r) {
			want = 2 // in both bodies
		}
		if reads[r] != want {
			t.Errorf("record %.40s… read %d times, want %d", r, reads[r], want)
		}
	}
	// The id-less event got its id from its content (ingest.Canonical), as from a file.
	var ev event.Event
	if err := json.Unmarshal([]byte(noID), &ev); err != nil {
		t.Fatal(err)
	}
	ev.Time = ev.Time.UTC()
	wantOnce(t, e.bus, append(ids, ingest.EventID("c", &ev)))
}
