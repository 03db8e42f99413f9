package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"breachd/bus"
	"breachd/event"
	"breachd/history"
	"breachd/notify"
)

// The live incident stream's test client: an SSE reader over a real HTTP connection, and
// the changes the tests make.

// streamWait is how long a test waits for something the stream must do.
const streamWait = 30 * time.Second

// sseFrame is one block of a Server-Sent Events stream: its fields, or a comment.
type sseFrame struct {
	event, id, data, retry, comment string
	at                              time.Time // when it was read
}

// incidentEvent is the data of an incident event.
type incidentEvent struct {
	Change string         `json:"change"`
	Actor  string         `json:"actor"`
	Row    map[string]any `json:"row"`
}

// sseStream is an open GET /api/incidents/stream: the frames read, in order, and ended,
// closed (after frames) when the stream ends.
type sseStream struct {
	resp   *http.Response
	frames chan sseFrame
	ended  chan struct{}
}

// openStream opens the stream of e's server as principal; see openStream.
func (e *env) openStream(t testing.TB, principal string) *sseStream {
	t.Helper()
	return openStream(t, e.http.URL, e.tokens[principal])
}

// openStream opens the stream of the server at base with an API token; the test fails unless
// it answers 200 with the stream's headers. The body is closed at the end of the test.
func openStream(t testing.TB, base, token string) *sseStream {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/api/incidents/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s", resp.StatusCode, b)
	}
	for k, v := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("stream: %s = %q, want %q", k, got, v)
		}
	}
	s := &sseStream{resp: resp, frames: make(chan sseFrame, 1<<16), ended: make(chan struct{})}
	go s.read() // ends when the body ends or is closed (cleanup)
	return s
}

// read parses the stream into frames until it ends.
func (s *sseStream) read() {
	defer close(s.ended)
	defer close(s.frames)
	sc := bufio.NewScanner(s.resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var f sseFrame
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if f != (sseFrame{}) {
				f.at = time.Now()
				s.frames <- f
			}
			f = sseFrame{}
		case strings.HasPrefix(line, ":"):
			f.comment = strings.TrimSpace(line[1:])
		default:
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k {
			case "event":
				f.event = v
			case "id":
				f.id = v
			case "data":
				f.data = v
			case "retry":
				f.retry = v
			}
		}
	}
}

// next returns the next frame that is not a ping; the test fails if the stream ends or
// nothing comes within streamWait.
func (s *sseStream) next(t testing.TB) sseFrame {
	t.Helper()
	timeout := time.After(streamWait)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				t.Fatal("the stream ended")
			}
			if f.comment == "ping" {
				continue
			}
			return f
		case <-timeout:
			t.Fatalf("no event within %s", streamWait)
		}
	}
}

// nextIncident returns the next incident event, checking its form.
func (s *sseStream) nextIncident(t testing.TB) (incidentEvent, sseFrame) {
	t.Helper()
	f := s.next(t)
	if f.event != "incident" {
		t.Fatalf("frame %+v, want an incident event", f)
	}
	if _, err := strconv.ParseUint(f.id, 10, 64); err != nil {
		t.Errorf("event id %q is not a stream sequence", f.id)
	}
	var ev incidentEvent
	if err := json.Unmarshal([]byte(f.data), &ev); err != nil {
		t.Fatalf("event data %q: %v", f.data, err)
	}
	return ev, f
}

// start checks the stream's first frame: the reconnection delay.
func (s *sseStream) start(t testing.TB) {
	t.Helper()
	if f := s.next(t); f.retry != "3000" {
		t.Fatalf("first frame %+v, want retry: 3000", f)
	}
}

// runNotifier runs a real notifier (alerts → incidents) until the test ends.
func (e *env) runNotifier(t testing.TB) {
	n, err := notify.New(e.js.JS, notify.Options{Incidents: e.incs, Mirror: e.store, Logger: slog.New(slog.DiscardHandler), Batch: 256})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("notifier: %v", err)
		}
	})
}

// publishAlert publishes an alert on account (the running notifier opens its incident).
func (e *env) publishAlert(t testing.TB, id, account string) {
	a := &event.Alert{ID: id, RuleID: "bulk-export", Title: "bulk export", Severity: event.SeverityHigh,
		Org: history.Realm(account), Account: account, EventID: "ev-" + id, EventKind: event.KindAccess,
		EventTime: e.now.Add(-time.Hour), Detected: e.now.Add(-time.Minute), Summary: "bulk export by " + account}
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	msg := &nats.Msg{Subject: bus.AlertSubject(a.Severity), Data: data, Header: nats.Header{bus.HeaderMsgID: {a.ID}}}
	if _, err := e.js.JS.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

// comment changes the incident id (a comment by actor).
func comment(t testing.TB, incs *notify.Incidents, id, actor string) {
	t.Helper()
	if _, err := incs.Comment(context.Background(), id, 0, notify.Edit{Actor: actor, Comment: "looked at it"}); err != nil {
		t.Fatal(err)
	}
}

// metric returns the value of the sample named exactly name on /metrics (0 if absent).
func (e *env) metric(t testing.TB, name string) float64 {
	t.Helper()
	_, body := e.do("GET", "/metrics", "", "")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitMetric waits until the sample name reaches at least want.
func (e *env) waitMetric(t testing.TB, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(streamWait)
	for e.metric(t, name) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed below %v", name, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func anyStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// sawActor reads s until an incident event by actor (true) or the end of the stream (false).
func sawActor(t *testing.T, s *sseStream, actor string) bool {
	t.Helper()
	timeout := time.After(4 * streamWait)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				return false
			}
			var ev incidentEvent
			if f.event == "incident" && json.Unmarshal([]byte(f.data), &ev) == nil && ev.Actor == actor {
				return true
			}
		case <-timeout:
			t.Fatalf("neither an event by %s nor the end of the stream", actor)
		}
	}
}
