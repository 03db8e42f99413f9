package channel

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/retry"
)

func TestDedupAcrossDispatcherRestart(t *testing.T) {
	ft := newFakeTime()
	h := newHookServer(t, "k", ft.Now)
	_, kv := startKV(t)
	mk := func() *Dispatcher {
		wh, _ := NewWebhook("hook", h.URL, []byte("k"), HTTPOptions{Clock: ft.Now})
		d, err := New(Router{Default: []string{"hook"}}, []Channel{wh},
			Options{KV: kv, Clock: ft.Now, Sleep: ft.Sleep, Logger: quietLogger(), Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	m := testMessage()
	if err := mk().Dispatch(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	second := mk() // a restarted notifier: new Dispatcher, same bucket
	if err := second.Dispatch(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	if h.count() != 1 {
		t.Fatalf("requests = %d, want 1: the restart paged twice", h.count())
	}
	if n := counter(t, second.metrics.sends.WithLabelValues("hook", resultDuplicate)); n != 1 {
		t.Fatalf("duplicate metric = %v", n)
	}
	m.Key = m.Incident.ID + "/escalated/v2"
	if err := second.Dispatch(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	if h.count() != 2 {
		t.Fatalf("requests = %d, want 2: a new key must be sent", h.count())
	}
}

func TestDedupClaims(t *testing.T) {
	ft := newFakeTime()
	h := newHookServer(t, "k", ft.Now)
	d := webhookDispatcher(t, h, ft, nil, RetryPolicy{})
	m := testMessage()
	ctx := ctxT(t)
	// Another notifier claimed the delivery and is sending right now: this one must not.
	val, _ := json.Marshal(record{State: stateSending, Owner: "other:1", At: ft.Now()})
	if _, err := d.dedup.kv.Create(ctx, dedupKey("hook", m.Key), val); err != nil {
		t.Fatal(err)
	}
	if err := d.Dispatch(ctx, m); err != nil || h.count() != 0 {
		t.Fatalf("err %v, requests %d: want nothing sent while another claim is live", err, h.count())
	}
	// The other notifier crashed: once the lease is over the claim is taken over and sent.
	ft.Advance(d.dedup.lease + time.Second)
	if err := d.Dispatch(ctx, m); err != nil || h.count() != 1 {
		t.Fatalf("err %v, requests %d: want the abandoned claim taken over", err, h.count())
	}
	e, err := d.dedup.kv.Get(ctx, dedupKey("hook", m.Key))
	if err != nil {
		t.Fatal(err)
	}
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil || r.State != stateDelivered {
		t.Fatalf("record = %+v, %v", r, err)
	}
}

// A slow channel does not hold back the others: the fast one is delivered while the slow
// one is still blocked.
func TestSlowChannelDoesNotBlockOthers(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	fast := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer fast.Close()

	_, kv := startKV(t)
	ws, _ := NewWebhook("slow", slow.URL, []byte("k"), HTTPOptions{})
	wf, _ := NewWebhook("fast", fast.URL, []byte("k"), HTTPOptions{})
	fastDone := &observed{Channel: wf, done: make(chan error, 1)}
	d, err := New(Router{Default: []string{"slow", "fast"}}, []Channel{ws, fastDone}, Options{KV: kv, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() { done <- d.Dispatch(ctx, testMessage()) }()
	if err := <-fastDone.done; err != nil { // delivered while slow is blocked
		t.Fatalf("fast: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Dispatch returned before the slow channel finished: %v", err)
	default:
	}
	cancel() // the caller gives up: Dispatch returns with the slow channel's error
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "channel slow") || strings.Contains(err.Error(), "channel fast") ||
		!errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want only the slow channel canceled", err)
	}
	if n := counter(t, d.metrics.sends.WithLabelValues("fast", resultDelivered)); n != 1 {
		t.Fatalf("fast delivered = %v", n)
	}
}

func TestDispatchRejectsInvalidMessage(t *testing.T) {
	var sent atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { sent.Add(1) }))
	defer srv.Close()
	_, kv := startKV(t)
	wh, _ := NewWebhook("hook", srv.URL, []byte("k"), HTTPOptions{})
	d, _ := New(Router{Default: []string{"hook"}}, []Channel{wh}, Options{KV: kv, Logger: quietLogger()})
	for _, m := range []Message{
		{Kind: KindOpened, Severity: "high"},
		{Key: "k", Kind: "Opened.x", Severity: "high"},
		{Key: "k", Kind: KindOpened, Severity: "urgent"},
	} {
		if err := d.Dispatch(ctxT(t), m); err == nil || !retry.IsPermanent(err) {
			t.Fatalf("%+v: err = %v, want permanent", m, err)
		}
	}
	if sent.Load() != 0 {
		t.Fatalf("sent %d", sent.Load())
	}
}

func TestNewChecksChannels(t *testing.T) {
	_, kv := startKV(t)
	wh, _ := NewWebhook("hook", "http://127.0.0.1:1", []byte("k"), HTTPOptions{})
	if _, err := New(Router{Default: []string{"nope"}}, []Channel{wh}, Options{KV: kv}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := New(Router{Default: []string{"hook"}}, []Channel{wh, wh}, Options{KV: kv}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("err = %v", err)
	}
	if _, err := New(Router{Default: []string{"hook"}}, []Channel{wh}, Options{}); err == nil {
		t.Fatal("no KV accepted")
	}
}

func TestBackoff(t *testing.T) {
	p := RetryPolicy{Initial: time.Second, Max: 10 * time.Second}.withDefaults()
	for n, want := range map[int]time.Duration{1: 500 * time.Millisecond, 2: time.Second, 3: 2 * time.Second, 5: 5 * time.Second, 40: 5 * time.Second} {
		if got := p.backoff(func() float64 { return 0 }).Delay(n); got != want {
			t.Errorf("backoff(%d, 0) = %v, want %v", n, got, want)
		}
	}
	if got := p.backoff(func() float64 { return 0.999 }).Delay(40); got < 9*time.Second || got >= 10*time.Second {
		t.Errorf("backoff(40, ~1) = %v, want just under the 10s cap", got)
	}
}

// observed reports each Send's result of the real channel it wraps.
type observed struct {
	Channel
	done chan error
}

func (o *observed) Send(ctx context.Context, m Message) error {
	err := o.Channel.Send(ctx, m)
	o.done <- err
	return err
}
