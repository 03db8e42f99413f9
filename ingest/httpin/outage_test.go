package httpin_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest"
	"breachd/ingest/httpin"
)

// gateSink signals each Submit on entered and holds it until release is closed.
type gateSink struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	sources []string
}

func (g *gateSink) Submit(ctx context.Context, b ingest.Batch) (ingest.Result, error) {
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ingest.Result{}, ctx.Err()
	}
	g.mu.Lock()
	g.sources = append(g.sources, b.Source)
	g.mu.Unlock()
	return ingest.Result{Accepted: len(b.Records)}, nil
}

// waitFor polls cond until it holds, failing after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// NATS goes away: POSTs get 503 with Retry-After, both when readiness says so up front and
// when the hand-off itself times out. After NATS is back, resending the same body stores
// every event exactly once.
func TestNATSDownThenRecovered(t *testing.T) {
	dir := t.TempDir()
	emb, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: dir, NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	u, err := url.Parse(emb.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	nc, _, err := bus.Connect(emb.ClientURL(), t.Name(), discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := bus.NewJetStream(nc, bus.DefaultWindow, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Ensure(ctx, js, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	s := &bustest.Server{Embedded: emb, NC: nc, JS: js}
	p, err := ingest.NewPipeline(bus.NewPublisher(js), s.Layout(t), discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	ready := func() error {
		if !nc.IsConnected() {
			return errors.New("nats: not connected")
		}
		return nil
	}
	withReady := serve(t, httpin.Config{Ready: ready, RetryAfter: 3 * time.Second}, nil, p)
	noReady := serve(t, httpin.Config{SubmitTimeout: 300 * time.Millisecond}, nil, p)

	before, beforeIDs := lines("before", 20)
	if a := post(t, withReady, request{token: tokenA, body: ndjson(before)}); a.code != 200 || a.resp.Accepted != 20 {
		t.Fatalf("before the outage: %d %+v", a.code, a.resp)
	}

	emb.Shutdown()
	waitFor(t, "the client to notice the outage", func() bool { return !nc.IsConnected() })
	during, duringIDs := lines("during", 50)
	body := ndjson(during)
	for _, c := range []struct {
		name, url, retryAfter string
	}{{"readiness fails", withReady, "3"}, {"hand-off times out", noReady, "5"}} {
		a := post(t, c.url, request{token: tokenA, body: body})
		if a.code != http.StatusServiceUnavailable || a.hdr.Get("Retry-After") != c.retryAfter || a.resp.Accepted != 0 || a.resp.Error == "" {
			t.Errorf("%s: %d, Retry-After %q, %+v; want 503, Retry-After %s, nothing accepted", c.name, a.code, a.hdr.Get("Retry-After"), a.resp, c.retryAfter)
		}
	}
	if res, err := http.Get(withReady + "/readyz"); err != nil || res.StatusCode != 503 {
		t.Errorf("readyz during the outage: %v %v, want 503", res.StatusCode, err)
	} else {
		res.Body.Close()
	}

	emb2, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: dir, Port: port, NoAuth: true})
	if err != nil {
		t.Fatalf("restart nats on port %d: %v", port, err)
	}
	t.Cleanup(emb2.Shutdown)
	waitFor(t, "the client to reconnect", nc.IsConnected)
	// The client resends until it gets 200, as it would on Retry-After.
	var a answer
	for try := 1; ; try++ {
		a = post(t, withReady, request{token: tokenA, body: body})
		if a.code == 200 || try == 100 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if a.code != 200 || a.resp.Accepted != 50 || a.resp.Rejected != 0 {
		t.Fatalf("resend after recovery: %d %+v", a.code, a.resp)
	}
	wantOnce(t, s, append(beforeIDs, duringIDs...))
	// Resending again is harmless and says so.
	if a := post(t, noReady, request{token: tokenA, body: body}); a.code != 200 || a.resp.Duplicates != 50 {
		t.Fatalf("second resend: %d %+v, want 50 duplicates", a.code, a.resp)
	}
	wantOnce(t, s, append(beforeIDs, duringIDs...))
}

// Run serves on a real listener, answers health and readiness, counts requests, and returns
// nil once its context ends.
func TestRunServesUntilCancelled(t *testing.T) {
	s := bustest.Start(t)
	reg := prometheus.NewRegistry()
	p, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(t), discard, reg)
	if err != nil {
		t.Fatal(err)
	}
	var up atomic.Bool
	addrc := make(chan string, 1)
	srv, err := httpin.New(httpin.Config{Listen: "127.0.0.1:0", Tokens: testTokens, Logger: discard, Registerer: reg,
		Ready: func() error {
			if !up.Load() {
				return errors.New("warming up")
			}
			return nil
		},
		OnListen: func(a string) { addrc <- a }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, p) }()
	base := "http://" + <-addrc

	get := func(path string) int {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if c := get("/healthz"); c != 200 {
		t.Errorf("healthz %d", c)
	}
	if c := get("/readyz"); c != 503 {
		t.Errorf("readyz before ready %d, want 503", c)
	}
	if a := post(t, base, request{token: tokenA, body: []byte(line("run-1"))}); a.code != 503 {
		t.Errorf("POST before ready: %d, want 503", a.code)
	}
	up.Store(true)
	if c := get("/readyz"); c != 200 {
		t.Errorf("readyz when ready %d, want 200", c)
	}
	if a := post(t, base, request{token: tokenA, body: []byte(line("run-1"))}); a.code != 200 || a.resp.Accepted != 1 {
		t.Errorf("POST: %d %+v", a.code, a.resp)
	}
	if c := get("/v1/events"); c != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/events %d, want 405", c)
	}
	counts := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "/" + l.GetValue()
			}
			counts[key] = m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	for key, want := range map[string]float64{
		"breach_httpin_requests_total/200": 1, "breach_httpin_requests_total/503": 1,
		"breach_httpin_records_total": 1, "breach_httpin_request_duration_seconds": 2,
		"breach_ingest_events_accepted_total/http:lms": 1,
	} {
		if counts[key] != want {
			t.Errorf("metric %s = %v, want %v", key, counts[key], want)
		}
	}
	if counts["breach_httpin_received_bytes_total"] < float64(len(line("run-1"))) {
		t.Errorf("received bytes %v", counts["breach_httpin_received_bytes_total"])
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if c, err := net.Dial("tcp", base[len("http://"):]); err == nil {
		c.Close()
		t.Error("still accepting connections after Run returned")
	}
}
