package channel

import (
	"breachd/hmacsig"
	"breachd/retry"

	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// hookServer is a webhook receiver on 127.0.0.1 that verifies every request's signature and
// answers with the scripted statuses (then 200).
type hookServer struct {
	*httptest.Server
	t        *testing.T
	secret   []byte
	now      func() time.Time
	mu       sync.Mutex
	script   []int
	header   http.Header // extra response headers
	requests []*WebhookPayload
	delivery []string
	badSigs  int
}

func newHookServer(t *testing.T, secret string, now func() time.Time, script ...int) *hookServer {
	h := &hookServer{t: t, secret: []byte(secret), now: now, script: script, header: http.Header{}}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := hmacsig.Verify(h.secret, r.Header.Get(hmacsig.HeaderTimestamp), body, r.Header.Get(hmacsig.HeaderSignature), 5*time.Minute, h.now()); err != nil {
		h.badSigs++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.requests = append(h.requests, &p)
	h.delivery = append(h.delivery, r.Header.Get(HeaderDelivery))
	status := http.StatusOK
	if len(h.script) > 0 {
		status, h.script = h.script[0], h.script[1:]
	}
	for k, v := range h.header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
}

func (h *hookServer) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.requests)
}

func webhookDispatcher(t *testing.T, h *hookServer, ft *fakeTime, reg prometheus.Registerer, retry RetryPolicy) *Dispatcher {
	t.Helper()
	_, kv := startKV(t)
	wh, err := NewWebhook("hook", h.URL, h.secret, HTTPOptions{Clock: ft.Now})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Router{Default: []string{"hook"}}, []Channel{wh}, Options{
		KV: kv, Retry: retry, Clock: ft.Now, Sleep: ft.Sleep, Jitter: func() float64 { return 0 },
		Logger: quietLogger(), Registerer: reg, LinkBase: "https://breachd.example.org/",
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestWebhookRetriesAfter503ThenSucceeds(t *testing.T) {
	ft := newFakeTime()
	h := newHookServer(t, "s3cret", ft.Now, 503, 503)
	h.header.Set("Retry-After", "7")
	reg := prometheus.NewRegistry()
	d := webhookDispatcher(t, h, ft, reg, RetryPolicy{Initial: time.Second})

	m := testMessage()
	if err := d.Dispatch(ctxT(t), m); err != nil {
		t.Fatalf("dispatch: %v", err)
	}
	if h.count() != 3 || h.badSigs != 0 {
		t.Fatalf("requests = %d (bad signatures %d), want 3 signed requests", h.count(), h.badSigs)
	}
	// Retry-After (7 s) is longer than the backoff (0.5 s, 1 s with zero jitter): it wins.
	if got := ft.Sleeps(); len(got) != 2 || got[0] != 7*time.Second || got[1] != 7*time.Second {
		t.Fatalf("sleeps = %v, want [7s 7s]", got)
	}
	for i, id := range h.delivery {
		if id != m.DeliveryID() {
			t.Fatalf("attempt %d delivery id %q, want %q", i, id, m.DeliveryID())
		}
	}
	p := h.requests[2]
	if p.Key != m.Key || p.Incident == nil || p.Incident.Account != "ødegård@bærum.no" || p.Delivery != m.DeliveryID() {
		t.Fatalf("payload = %+v", p)
	}
	if p.Link != "https://breachd.example.org/incidents/INC-20261105-1a2b3c4d" {
		t.Fatalf("link = %q", p.Link)
	}
	if got := counter(t, d.metrics.retries.WithLabelValues("hook")); got != 2 {
		t.Fatalf("retries metric = %v, want 2", got)
	}
	if got := counter(t, d.metrics.sends.WithLabelValues("hook", resultDelivered)); got != 1 {
		t.Fatalf("delivered metric = %v, want 1", got)
	}
}

func TestWebhookPermanent400NotRetried(t *testing.T) {
	ft := newFakeTime()
	h := newHookServer(t, "s3cret", ft.Now, 400)
	d := webhookDispatcher(t, h, ft, nil, RetryPolicy{})
	err := d.Dispatch(ctxT(t), testMessage())
	if err == nil || !retry.IsPermanent(err) || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "channel hook") {
		t.Fatalf("err = %v, want a permanent HTTP 400 error naming the channel", err)
	}
	if h.count() != 1 || len(ft.Sleeps()) != 0 {
		t.Fatalf("requests = %d, sleeps = %v: want 1 request, no retry", h.count(), ft.Sleeps())
	}
	// The failed delivery released its claim: dispatching again tries again.
	if err := d.Dispatch(ctxT(t), testMessage()); err != nil {
		t.Fatalf("second dispatch: %v", err)
	}
	if h.count() != 2 {
		t.Fatalf("requests = %d, want 2", h.count())
	}
}

func TestWebhookRetryBounds(t *testing.T) {
	t.Run("max attempts", func(t *testing.T) {
		ft := newFakeTime()
		h := newHookServer(t, "k", ft.Now, 500, 500, 500, 500)
		d := webhookDispatcher(t, h, ft, nil, RetryPolicy{MaxAttempts: 3, Initial: time.Second})
		err := d.Dispatch(ctxT(t), testMessage())
		if err == nil || retry.IsPermanent(err) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
			t.Fatalf("err = %v", err)
		}
		if got := ft.Sleeps(); h.count() != 3 || len(got) != 2 || got[0] != 500*time.Millisecond || got[1] != time.Second {
			t.Fatalf("requests %d, sleeps %v: want 3 requests, sleeps [500ms 1s]", h.count(), got)
		}
	})
	t.Run("retry-after beyond max elapsed", func(t *testing.T) {
		ft := newFakeTime()
		h := newHookServer(t, "k", ft.Now, 429)
		h.header.Set("Retry-After", "3600")
		d := webhookDispatcher(t, h, ft, nil, RetryPolicy{MaxElapsed: 5 * time.Minute})
		err := d.Dispatch(ctxT(t), testMessage())
		if err == nil || !strings.Contains(err.Error(), "would pass 5m0s") || h.count() != 1 {
			t.Fatalf("err = %v, requests %d", err, h.count())
		}
	})
}
