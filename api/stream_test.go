package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/api"
	"breachd/auth"
	"breachd/bus"
	"breachd/event"
	"breachd/history"
	"breachd/notify"
)

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

// TestStreamOpenedAndUpdated: a SOC analyst's stream shows an incident the notifier opens
// from an alert, as exactly the row GET /api/incidents lists, and then a change to it with
// its kind and actor.
func TestStreamOpenedAndUpdated(t *testing.T) {
	e := newEnv(t, nil)
	soc := principalName(auth.RoleSOC, bergen)
	s := e.openStream(t, soc)
	s.start(t)
	e.runNotifier(t)
	account := "live@" + bergen
	e.publishAlert(t, "live-1", account)

	ev, _ := s.nextIncident(t)
	if ev.Change != "opened" || ev.Actor != "notify" || ev.Row["account"] != account || ev.Row["org"] != bergen {
		t.Fatalf("first event %+v, want %s opened by notify", ev, account)
	}
	if !slices.Equal(anyStrings(ev.Row["rules"]), []string{"bulk-export"}) {
		t.Errorf("row rules %v, want [bulk-export]", ev.Row["rules"])
	}
	id, _ := ev.Row["id"].(string)
	_, body := e.do("GET", "/api/incidents?all=true", soc, "")
	var list api.Rows
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	var listed map[string]any
	for _, r := range list.Rows {
		if r["id"] == id {
			listed = r
		}
	}
	if listed == nil {
		t.Fatalf("%s is not in GET /api/incidents", id)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(ev.Row)), slices.Sorted(slices.Values(list.Columns))) {
		t.Errorf("stream row columns %v, list columns %v", slices.Sorted(maps.Keys(ev.Row)), list.Columns)
	}
	for k, v := range listed {
		if k != "due" && fmt.Sprint(ev.Row[k]) != fmt.Sprint(v) { // due: "… left" as of each answer
			t.Errorf("stream row %s = %v, list row %v", k, ev.Row[k], v)
		}
	}

	comment(t, e.incs, id, "kari")
	ev, _ = s.nextIncident(t)
	if ev.Change != "comment" || ev.Actor != "kari" || ev.Row["id"] != id {
		t.Errorf("second event %+v, want %s's comment by kari", ev, id)
	}
	if up, err := time.Parse(time.RFC3339, fmt.Sprint(ev.Row["updated"])); err != nil || !up.After(e.now.Add(-time.Minute)) {
		t.Errorf("row updated %v (%v), want the change's RFC 3339 time", ev.Row["updated"], err)
	}
}

// TestStreamScope: an org-admin's stream shows its organisation's incidents and never
// another's.
func TestStreamScope(t *testing.T) {
	e := newEnv(t, nil)
	incB, incO := e.byAccount[accountOf[bergen]].ID, e.byAccount[accountOf[oslo]].ID
	bergenAdmin := e.openStream(t, principalName(auth.RoleOrgAdmin, bergen))
	osloAdmin := e.openStream(t, principalName(auth.RoleOrgAdmin, oslo))
	bergenAdmin.start(t)
	osloAdmin.start(t)
	for _, id := range []string{incO, incB, incO, incB} {
		comment(t, e.incs, id, "tester")
	}
	for _, c := range []struct {
		name   string
		s      *sseStream
		own    string
		others string
	}{{"bergen's org-admin", bergenAdmin, incB, incO}, {"oslo's org-admin", osloAdmin, incO, incB}} {
		for range 2 { // its two changes, in order, and none of the other's in between
			ev, _ := c.s.nextIncident(t)
			if ev.Row["id"] != c.own {
				t.Errorf("%s got %v's change (%v), want only %s", c.name, ev.Row["id"], ev.Row["org"], c.own)
			}
		}
	}
}

// TestStreamRefused: no session is 401, a role without incidents.read 403.
func TestStreamRefused(t *testing.T) {
	e := newEnv(t, nil)
	resp, body := e.do("GET", "/api/incidents/stream", "", "")
	if resp.StatusCode != http.StatusUnauthorized || errorCode(body) != api.CodeUnauthenticated {
		t.Errorf("anonymous: %d %s, want 401 unauthenticated", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/api/incidents/stream", principalName(auth.RoleRuleAuthor, bergen), "")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("rule-author: %d %s, want 403", resp.StatusCode, body)
	}
}

// TestStreamSlowClientDropped: a client that stops reading is dropped once it is a buffer
// behind, and its connection ends; a client that reads meanwhile gets every change.
func TestStreamSlowClientDropped(t *testing.T) {
	var accounts []string
	for i := range 20 { // changes spread over incidents, so no incident's timeline grows long
		accounts = append(accounts, fmt.Sprintf("slow%d@%s", i, bergen))
	}
	e := newEnv(t, accounts)
	soc := principalName(auth.RoleSOC, bergen)
	fast := e.openStream(t, soc)
	fast.start(t)

	conn, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /api/incidents/stream HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\n\r\n", e.tokens[soc])
	e.waitMetric(t, "breach_api_stream_clients", 2)

	incs, err := notify.NewIncidents(context.Background(), e.js.JS, notify.IncidentsOptions{}) // no mirror: faster changes
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, inc := range e.byAccount {
		ids = append(ids, inc.ID)
	}
	sent := 0
	t0 := time.Now()
	for e.metric(t, "breach_api_stream_dropped_clients_total") < 1 {
		if sent >= 20000 {
			t.Fatalf("the client that reads nothing was not dropped after %d changes", sent)
		}
		for range 50 {
			comment(t, incs, ids[sent%len(ids)], "tester")
			sent++
		}
	}
	t.Logf("the slow client was dropped after %d changes (%s)", sent, time.Since(t0))
	for got := 0; got < sent; got++ {
		ev, _ := fast.nextIncident(t)
		if ev.Change != "comment" {
			t.Fatalf("fast client: event %d is %+v", got, ev)
		}
	}
	if n := e.metric(t, "breach_api_stream_dropped_clients_total"); n != 1 {
		t.Errorf("%v clients dropped, want only the slow one", n)
	}
	// The slow client's stream has ended: what was written before the drop, then the end of
	// the response, or of the connection when a blocked write timed out meanwhile (read with
	// a larger buffer: through 4 KiB, megabytes take minutes).
	if err := conn.(*net.TCPConn).SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(2 * streamWait))
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil {
		t.Errorf("the slow client's response: %v", err)
	} else if b, err := io.ReadAll(resp.Body); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("the slow client's stream did not end: %v (%d bytes read: ...%q)", err, len(b), b[max(0, len(b)-300):])
		}
	}
	e.waitMetric(t, "breach_api_stream_events_total", float64(sent))
	if n := e.metric(t, "breach_api_stream_clients"); n != 1 {
		t.Errorf("breach_api_stream_clients = %v after the drop, want 1", n)
	}
}

// TestStreamPingAndEnd: an idle stream sends ping comments and ends after StreamMax.
func TestStreamPingAndEnd(t *testing.T) {
	e := newEnvWith(t, nil, func(c *api.Config) { c.StreamPing, c.StreamMax = 100*time.Millisecond, 2*time.Second })
	s := e.openStream(t, principalName(auth.RoleDPO, bergen))
	s.start(t)
	pings := 0
	timeout := time.After(streamWait)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				if pings == 0 {
					t.Error("the stream ended without a ping")
				}
				return // ended by the server
			}
			if f.comment != "ping" {
				t.Errorf("an idle stream sent %+v", f)
			}
			pings++
		case <-timeout:
			t.Fatalf("the stream did not end within %s (StreamMax 2 s)", streamWait)
		}
	}
}

// TestStreamEndsOnShutdown: when the server's Run ends, its open streams end (so a graceful
// shutdown does not wait for them), and a new stream is refused with 503.
func TestStreamEndsOnShutdown(t *testing.T) {
	e := newEnv(t, nil)
	svc, tokens := startAuth(t, e.js) // a second server over the same engines, whose Run this test ends
	srv, err := api.New(api.Config{Auth: svc, Incidents: e.incs, History: e.store, JS: e.js.JS,
		Registry: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx) }()
	soc := tokens[principalName(auth.RoleSOC, bergen)]
	s := openStream(t, ts.URL, soc)
	s.start(t)
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
	select {
	case <-s.ended:
	case <-time.After(streamWait):
		t.Fatal("the stream is still open after Run ended")
	}
	req, _ := http.NewRequest("GET", ts.URL+"/api/incidents/stream", nil)
	req.Header.Set("Authorization", "Bearer "+soc)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || errorCode(body) != "unavailable" {
		t.Errorf("a stream after Run ended: %d %s, want 503 unavailable", resp.StatusCode, body)
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

// TestStreamNATSFailure: the hub's consumer rides over a restart of NATS (a change after the
// restart reaches the open stream, or the stream the client opens again), and when its
// connection is gone for good the open streams end rather than stay open without news.
func TestStreamNATSFailure(t *testing.T) {
	e := newEnv(t, nil) // the history and the sign-in (on e's NATS); the stream on a NATS of its own
	dir := t.TempDir()
	ns, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: dir, NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown() })
	url := ns.ClientURL()
	port, err := strconv.Atoi(url[strings.LastIndexByte(url, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := bus.Connect(url, "stream-test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := bus.Ensure(ctx, js, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	incs, err := notify.NewIncidents(ctx, js, notify.IncidentsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inc := *e.byAccount[accountOf[bergen]]
	data, err := json.Marshal(&inc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, bus.BucketIncidents)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "inc."+inc.ID, data); err != nil {
		t.Fatal(err)
	}

	svc, tokens := startAuth(t, e.js)
	reg := prometheus.NewRegistry()
	srv, err := api.New(api.Config{Auth: svc, Incidents: incs, History: e.store, JS: js, Registry: reg, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	rctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(rctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	soc := tokens[principalName(auth.RoleSOC, bergen)]
	s := openStream(t, ts.URL, soc)
	s.start(t)
	comment(t, incs, inc.ID, "before")
	if ev, _ := s.nextIncident(t); ev.Actor != "before" {
		t.Fatalf("event %+v, want the change before the restart", ev)
	}

	ns.Shutdown()
	if ns, err = bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: dir, Port: port, NoAuth: true}); err != nil {
		t.Fatalf("restart nats on port %d: %v", port, err)
	}
	for deadline := time.Now().Add(2 * streamWait); ; { // the client's connection comes back
		_, err := incs.Comment(ctx, inc.ID, 0, notify.Edit{Actor: "after", Comment: "after the restart"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no change after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if sawActor(t, s, "after") {
		t.Log("the open stream showed the change after the restart")
	} else { // the hub gave up on the stream: the client reconnects
		t.Log("the stream ended over the restart; reconnecting")
		s = openStream(t, ts.URL, soc)
		s.start(t)
		comment(t, incs, inc.ID, "after")
		if !sawActor(t, s, "after") {
			t.Fatal("no stream shows a change after NATS restarted")
		}
	}

	nc.Close() // gone for good
	select {
	case <-s.ended:
	case <-time.After(4 * streamWait):
		t.Fatal("the stream is still open with the hub's connection closed")
	}
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
