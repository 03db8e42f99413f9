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
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/api"
	"breachd/auth"
	"breachd/bus"
	"breachd/notify"
)

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

// TestStreamPingAndEnd: an idle stream sends ping comments, outlives the request timeout of
// the other routes (a change made after it still arrives), and ends after StreamMax.
func TestStreamPingAndEnd(t *testing.T) {
	e := newEnvWith(t, nil, func(c *api.Config) {
		c.Timeout, c.StreamPing, c.StreamMax = 200*time.Millisecond, 100*time.Millisecond, 3*time.Second
	})
	s := e.openStream(t, principalName(auth.RoleDPO, bergen))
	s.start(t)
	pings, changed, got := 0, false, false
	timeout := time.After(streamWait)
	for {
		select {
		case f, ok := <-s.frames:
			switch {
			case !ok: // ended by the server
				if pings == 0 || !got {
					t.Errorf("the stream ended after %d pings, the change seen: %v", pings, got)
				}
				return
			case f.comment == "ping":
				pings++
			case f.event == "incident" && changed:
				got = true
			default:
				t.Errorf("unexpected frame %+v", f)
			}
			if pings == 5 && !changed { // five pings of 100 ms: past the request timeout of 200 ms
				comment(t, e.incs, e.byAccount[accountOf[bergen]].ID, "tester")
				changed = true
			}
		case <-timeout:
			t.Fatalf("the stream did not end within %s (StreamMax 3 s)", streamWait)
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

// TestStreamNATSFailure: over a restart of NATS the open stream ends (changes published while
// the connection was down were not delivered: the console reloads), a stream opened again
// shows the changes after it, and when the hub's connection is gone for good the open
// streams end rather than stay open without news.
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
	select {
	case <-s.ended:
	case <-time.After(4 * streamWait):
		t.Fatal("the stream is still open after NATS restarted (it may have missed changes)")
	}
	s = openStream(t, ts.URL, soc) // answered once the hub has subscribed again
	s.start(t)
	comment(t, incs, inc.ID, "again")
	if !sawActor(t, s, "again") {
		t.Fatal("the stream opened after the restart does not show a change")
	}

	nc.Close() // gone for good
	select {
	case <-s.ended:
	case <-time.After(4 * streamWait):
		t.Fatal("the stream is still open with the hub's connection closed")
	}
}

// TestStreamClientsBounded: past Config.StreamClients open streams a new one is refused
// (503), and accepted again once one ended.
func TestStreamClientsBounded(t *testing.T) {
	e := newEnvWith(t, nil, func(c *api.Config) { c.StreamClients = 2 })
	soc := principalName(auth.RoleSOC, bergen)
	first := e.openStream(t, soc)
	first.start(t)
	e.openStream(t, soc).start(t)
	if resp, body := e.do("GET", "/api/incidents/stream", soc, ""); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "too many") {
		t.Fatalf("a third stream: %d %s, want 503 too many", resp.StatusCode, body)
	}
	first.resp.Body.Close() // the client goes away; the server sees it and ends its stream
	for deadline := time.Now().Add(streamWait); ; time.Sleep(20 * time.Millisecond) {
		req, err := http.NewRequest("GET", e.http.URL+"/api/incidents/stream", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.tokens[soc])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("a stream after one ended: %d, want 200", resp.StatusCode)
		}
	}
}

// TestStreamEndsWithItsCredential: a stream ends soon after its credential stops
// authenticating (checked at every ping: here its user is disabled), while a stream of
// another user goes on.
func TestStreamEndsWithItsCredential(t *testing.T) {
	e := newEnvWith(t, nil, func(c *api.Config) { c.StreamPing = 100 * time.Millisecond })
	gone, kept := principalName(auth.RoleSOC, bergen), principalName(auth.RoleSOC, oslo)
	s, other := e.openStream(t, gone), e.openStream(t, kept)
	s.start(t)
	other.start(t)
	if err := e.users.Disable(strings.ReplaceAll(gone, "+", ".")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.ended:
	case <-time.After(streamWait):
		t.Fatal("the stream of a disabled user is still open")
	}
	for pings := 0; pings < 3; { // the other stream: pings after the first one ended
		select {
		case f, ok := <-other.frames:
			if !ok {
				t.Fatal("the stream of a user still enabled ended")
			}
			if f.comment == "ping" {
				pings++
			}
		case <-time.After(streamWait):
			t.Fatal("no pings on the other stream")
		}
	}
}
