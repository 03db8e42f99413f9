package webhook_test

import (
	"breachd/hmacsig"
	"breachd/retry"

	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"breachd/respond"
	"breachd/respond/webhook"
)

// receiver is a webhook endpoint that verifies signatures like a real receiver would.
type receiver struct {
	secret []byte
	now    time.Time
	mu     sync.Mutex
	got    []webhook.Payload
	keys   []string
	status int // answer for valid calls
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := hmacsig.Verify(rc.secret, r.Header.Get(hmacsig.HeaderTimestamp), body, r.Header.Get(hmacsig.HeaderSignature), 5*time.Minute, rc.now); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.status != 0 && rc.status != http.StatusOK {
		w.Header().Set("Retry-After", "30")
		http.Error(w, "try later", rc.status)
		return
	}
	rc.got = append(rc.got, p)
	rc.keys = append(rc.keys, r.Header.Get("Idempotency-Key"))
	w.WriteHeader(http.StatusNoContent)
}

func TestSignedCalls(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	secret := []byte("0123456789abcdef-shared")
	rc := &receiver{secret: secret, now: now}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	clock := func() time.Time { return now }
	c, err := webhook.New(webhook.Config{URL: srv.URL, Secret: secret, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	tg := respond.Target{Org: "school.no", Account: "ola@school.no", Incident: "INC-1", Request: "abc"}
	if err := c.Deactivate(ctx, tg); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	if err := c.Reactivate(ctx, tg); err != nil {
		t.Fatalf("reactivate: %v", err)
	}
	want := []webhook.Payload{
		{Action: "deactivate", Org: "school.no", Account: "ola@school.no", Incident: "INC-1", RequestID: "abc"},
		{Action: "reactivate", Org: "school.no", Account: "ola@school.no", Incident: "INC-1", RequestID: "abc"},
	}
	if len(rc.got) != 2 || rc.got[0] != want[0] || rc.got[1] != want[1] {
		t.Fatalf("received %+v", rc.got)
	}
	if rc.keys[0] != "abc-deactivate" || rc.keys[1] != "abc-reactivate" {
		t.Fatalf("idempotency keys %q", rc.keys)
	}

	// A wrong secret is rejected by the receiver: 401 is permanent.
	bad, _ := webhook.New(webhook.Config{URL: srv.URL, Secret: []byte("another-secret-0123"), Clock: clock})
	if err := bad.Deactivate(ctx, tg); !retry.IsPermanent(err) {
		t.Fatalf("wrong secret: %v", err)
	}
	// A stale timestamp too (replay protection on the receiver's side).
	old, _ := webhook.New(webhook.Config{URL: srv.URL, Secret: secret, Clock: func() time.Time { return now.Add(-time.Hour) }})
	if err := old.Deactivate(ctx, tg); !retry.IsPermanent(err) {
		t.Fatalf("stale timestamp: %v", err)
	}
	// 503 and 429 are transient, with Retry-After.
	for _, st := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		rc.mu.Lock()
		rc.status = st
		rc.mu.Unlock()
		err := c.Deactivate(ctx, tg)
		if d, _ := retry.RetryAfter(err); err == nil || retry.IsPermanent(err) || d != 30*time.Second {
			t.Fatalf("status %d: %v (retry delay %s)", st, err, d)
		}
	}
	if len(rc.got) != 2 {
		t.Fatalf("failed calls were accepted: %d", len(rc.got))
	}
}

func TestConfig(t *testing.T) {
	for _, cfg := range []webhook.Config{
		{URL: "ftp://x", Secret: []byte("0123456789abcdef")},
		{URL: "http://127.0.0.1:1", Secret: []byte("short")},
	} {
		if _, err := webhook.New(cfg); err == nil {
			t.Fatalf("accepted %+v", cfg)
		}
	}
}
