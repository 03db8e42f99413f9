package httpin_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest"
	"breachd/ingest/httpin"
)

// serveReal runs a Server with Serve, on a loopback listener, the way Run does (with the
// server's own timeouts), in front of the real Pipeline and an embedded JetStream.
func serveReal(t *testing.T, cfg httpin.Config) (addr string, s *bustest.Server, reg *prometheus.Registry) {
	t.Helper()
	s = bustest.Start(t)
	reg = prometheus.NewRegistry()
	p, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(t), discard, reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tokens, cfg.Logger, cfg.Registerer = testTokens, discard, reg
	srv, err := httpin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, p) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), s, reg
}

// trickle opens a connection, sends the headers of a POST announcing a body of size bytes,
// then one byte every interval until the server answers or closes the connection. It returns
// the status the server answered, or 0 when it closed the connection without an answer.
func trickle(addr string, size int, interval time.Duration) (int, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute)) // the test fails, not hangs, if never answered
	_, err = fmt.Fprintf(c, "POST /v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n", addr, tokenA, size)
	if err != nil {
		return 0, err
	}
	answered := make(chan struct{})
	go func() { // owned: ends when the connection is closed below, at the latest
		defer close(answered)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for sent := 0; sent < size; sent++ {
			if _, err := c.Write([]byte{' '}); err != nil {
				return
			}
			<-tick.C
		}
	}()
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	_ = c.Close()
	<-answered
	if err != nil {
		return 0, nil // the server closed the connection: the slot is free as well
	}
	_ = res.Body.Close()
	if res.StatusCode == http.StatusOK {
		return res.StatusCode, fmt.Errorf("a body trickled at one byte per %s was accepted", interval)
	}
	return res.StatusCode, nil
}

// Slowloris on the body: as many clients as there are in-flight slots trickle their bodies at
// one byte per 100 ms. They lose their slots once they fall below MinBodyRate (after the grace),
// with 408, and a normal client is served; the server's own ReadTimeout is far longer, so only
// the body bounds free the slots.
func TestSlowBodiesLoseTheirOwnSlots(t *testing.T) {
	const slots = 3
	addr, s, reg := serveReal(t, httpin.Config{MaxInFlight: slots, MinBodyRate: 100, BodyRateGrace: time.Second,
		BodyTimeout: 10 * time.Minute, ReadTimeout: 10 * time.Minute})
	url := "http://" + addr

	type result struct {
		code int
		err  error
	}
	results := make(chan result, slots)
	for range slots {
		go func() {
			code, err := trickle(addr, 4096, 100*time.Millisecond)
			results <- result{code, err}
		}()
	}
	waitFor(t, "the slow clients to hold every slot", func() bool {
		return gauge(t, reg, "breach_httpin_in_flight_requests") == slots
	})

	var a answer
	waitFor(t, "a normal client to be served", func() bool {
		var err error
		a, err = tryPost(url, request{token: tokenA, contentType: "application/x-ndjson", body: []byte(line("normal-1") + "\n")})
		if err != nil {
			t.Fatal(err)
		}
		return a.code != http.StatusTooManyRequests
	})
	if a.code != http.StatusOK || a.resp.Accepted != 1 {
		t.Fatalf("normal client: %d %+v, want 200 with the event accepted", a.code, a.resp)
	}
	for range slots {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.code != http.StatusRequestTimeout && r.code != 0 {
			t.Errorf("slow client got %d, want 408 or the connection closed", r.code)
		}
	}
	if got := counterVec(t, reg, "breach_httpin_body_timeouts_total", "reason", "too_slow"); got != slots {
		t.Errorf("breach_httpin_body_timeouts_total{reason=too_slow} = %v, want %d", got, slots)
	}
	wantOnce(t, s, []string{"normal-1"})
}

// Without a rate bound, BodyTimeout alone ends a body that never completes: 408 with a
// reason the client can act on, counted as "timeout".
func TestBodyTimeout(t *testing.T) {
	addr, _, reg := serveReal(t, httpin.Config{MinBodyRate: -1, BodyTimeout: 500 * time.Millisecond, ReadTimeout: 10 * time.Minute})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // the test fails, not hangs, if never answered
	body := line("partial-1") + "\n"
	// Announce one byte more than is sent: the body never completes.
	fmt.Fprintf(c, "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", tokenA, len(body)+1, body)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to an incomplete body: %v", err)
	}
	defer res.Body.Close()
	var msg strings.Builder
	_, _ = bufio.NewReader(res.Body).WriteTo(&msg)
	if res.StatusCode != http.StatusRequestTimeout || !res.Close || !strings.Contains(msg.String(), "not complete after") {
		t.Fatalf("%d (close %v) %s; want 408 closing the connection, naming the timeout", res.StatusCode, res.Close, msg.String())
	}
	if got := counterVec(t, reg, "breach_httpin_body_timeouts_total", "reason", "timeout"); got != 1 {
		t.Errorf("breach_httpin_body_timeouts_total{reason=timeout} = %v, want 1", got)
	}
}

// A body that arrives in pieces, but faster than MinBodyRate, is read to the end.
func TestSteadyBodyIsRead(t *testing.T) {
	addr, s, _ := serveReal(t, httpin.Config{MinBodyRate: 10, BodyRateGrace: 5 * time.Second})
	ls, ids := lines("steady", 4)
	pr, pw := net.Pipe() // a body writer the test paces
	go func() {
		defer pw.Close()
		for _, l := range ls {
			if _, err := pw.Write([]byte(l + "\n")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/events", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tokenA)
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("paced body: %d, want 200", res.StatusCode)
	}
	wantOnce(t, s, ids)
}

// gauge returns the value of an unlabelled gauge.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// counterVec returns the value of the counter name{label="value"}.
func counterVec(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no counter %s{%s=%q}", name, label, value)
	return 0
}

// patientSink answers after a while, unless the request's context ends first.
type patientSink struct{ wait time.Duration }

func (p patientSink) Submit(ctx context.Context, b ingest.Batch) (ingest.Result, error) {
	select {
	case <-ctx.Done():
		return ingest.Result{}, ctx.Err()
	case <-time.After(p.wait):
		return ingest.Result{Accepted: len(b.Records)}, nil
	}
}

// The body deadline ends with the body: a hand-off that takes longer than the body was given
// is not cut short by it. (net/http clears the read deadline when a body hits EOF and starts a
// background read, which cancels the request's context if it fails: a deadline set after EOF
// would make it fail.)
func TestBodyDeadlineDoesNotCutTheHandOff(t *testing.T) {
	srv, err := httpin.New(httpin.Config{Tokens: testTokens, Logger: discard, MinBodyRate: 1 << 20, BodyRateGrace: 100 * time.Millisecond,
		BodyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, patientSink{wait: time.Second}) }()
	defer func() { cancel(); <-done }()
	a := post(t, "http://"+ln.Addr().String(), request{token: tokenA, body: []byte(line("patient-1"))})
	if a.code != http.StatusOK || a.resp.Accepted != 1 {
		t.Fatalf("%d %+v; want 200 after the slow hand-off", a.code, a.resp)
	}
}
