package retry

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.Delay(i + 1); got != w*time.Millisecond {
			t.Errorf("Delay(%d) = %s, want %s", i+1, got, w*time.Millisecond)
		}
	}
	b.Jitter, b.Rand = 0.5, func() float64 { return 0.999 }
	if got := b.Delay(1); got <= 50*time.Millisecond || got > 100*time.Millisecond {
		t.Errorf("jittered Delay(1) = %s, want in (50ms, 100ms]", got)
	}
	ra := Transient(errors.New("busy"), time.Hour)
	if got := b.After(1, ra); got != time.Second {
		t.Errorf("After with Retry-After 1h = %s, want the cap 1s", got)
	}
}

func TestClassification(t *testing.T) {
	for code, transient := range map[int]bool{400: false, 401: false, 404: false, 408: true, 425: true, 429: true, 500: true, 503: true} {
		if TransientStatus(code) != transient {
			t.Errorf("TransientStatus(%d) = %v", code, !transient)
		}
	}
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	resp := &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"99999999"}}, Body: http.NoBody}
	err := HTTPError("post", resp, now)
	if IsPermanent(err) || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("503: %v (permanent %v)", err, IsPermanent(err))
	}
	if d, _ := RetryAfter(err); d != MaxRetryAfter {
		t.Errorf("Retry-After capped to %s, want %s", d, MaxRetryAfter)
	}
	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "-3": 0, "12": 12 * time.Second, " 12 ": 12 * time.Second, "junk": 0,
		now.Add(time.Minute).Format(http.TimeFormat):    time.Minute,
		now.Add(-time.Hour).Format(http.TimeFormat):     0,
		now.Add(48 * time.Hour).Format(http.TimeFormat): MaxRetryAfter,
	} {
		if got := ParseRetryAfter(v, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
	if !IsPermanent(HTTPError("post", &http.Response{StatusCode: 403, Header: http.Header{}, Body: http.NoBody}, now)) {
		t.Error("403 not permanent")
	}
	tooEarly := &http.Response{StatusCode: 425, Header: http.Header{"Retry-After": {"3"}}, Body: http.NoBody}
	err = StatusError("SCIM PATCH", tooEarly, "invalidValue try later", now)
	if d, _ := RetryAfter(err); IsPermanent(err) || d != 3*time.Second || err.Error() != "SCIM PATCH: HTTP 425: invalidValue try later" {
		t.Errorf("425 with detail: %q (permanent %v, retry after %s)", err, IsPermanent(err), d)
	}
	if err := StatusError("GET", &http.Response{StatusCode: 404, Header: http.Header{}}, "", now); err.Error() != "GET: HTTP 404" {
		t.Errorf("no detail: %q", err)
	}
	if Permanent(nil) != nil || Transient(nil, 0) != nil {
		t.Error("nil errors must stay nil")
	}
}

func TestForever(t *testing.T) {
	calls := 0
	err := Forever(context.Background(), Backoff{Initial: time.Millisecond}, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Forever: %v after %d calls", err, calls)
	}
	stop := errors.New("bad input")
	if err := Forever(context.Background(), Backoff{Initial: time.Millisecond}, func() error { return Permanent(stop) }); !errors.Is(err, stop) {
		t.Fatalf("permanent error not returned: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Forever(ctx, Backoff{Initial: time.Hour}, func() error { return errors.New("down") }); err == nil || !strings.Contains(err.Error(), "gave up") {
		t.Fatalf("cancelled Forever: %v", err)
	}
}
