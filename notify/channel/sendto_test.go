package channel

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"breachd/retry"
)

// TestDispatchToInFlight: a message another sender is sending is not reported as sent (so a
// durable caller retries it), and is delivered once that sender's claim has lapsed, once.
func TestDispatchToInFlight(t *testing.T) {
	ft := newFakeTime()
	h := newHookServer(t, "k", ft.Now)
	d := webhookDispatcher(t, h, ft, nil, RetryPolicy{})
	if got := d.Channels(); len(got) != 1 || got[0] != "hook" {
		t.Fatalf("channels %v", got)
	}
	m := testMessage()
	ctx := ctxT(t)
	val, _ := json.Marshal(record{State: stateSending, Owner: "other:1", At: ft.Now()})
	if _, err := d.dedup.kv.Create(ctx, dedupKey("hook", m.Key), val); err != nil {
		t.Fatal(err)
	}
	err := d.DispatchTo(ctx, "hook", m)
	if !errors.Is(err, ErrInFlight) || retry.IsPermanent(err) || h.count() != 0 {
		t.Fatalf("err %v, requests %d: want a transient ErrInFlight and nothing sent", err, h.count())
	}
	ft.Advance(d.dedup.lease + time.Second) // the other sender died
	if err := d.DispatchTo(ctx, "hook", m); err != nil || h.count() != 1 {
		t.Fatalf("err %v, requests %d: want the lapsed claim taken over and sent", err, h.count())
	}
	if err := d.DispatchTo(ctx, "hook", m); err != nil || h.count() != 1 {
		t.Fatalf("err %v, requests %d: want a delivered message not sent again", err, h.count())
	}
	if err := d.DispatchTo(ctx, "nosuch", m); !retry.IsPermanent(err) {
		t.Fatalf("unknown channel: %v, want a permanent error", err)
	}
}
