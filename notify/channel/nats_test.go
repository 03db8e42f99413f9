package channel

import (
	"encoding/json"
	"testing"
	"time"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/retry"
)

func TestNATSChannelJetStreamAndDedup(t *testing.T) {
	s, kv := startKV(t)
	ctx := ctxT(t)
	if err := EnsureStream(ctx, s.JS, 1); err != nil {
		t.Fatal(err)
	}
	cfg := []byte(`
channels:
  - name: bus
    nats: {}
default: {channels: [bus]}
`)
	d, err := ParseConfig(cfg, Options{KV: kv, JS: s.JS, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage()
	for range 2 { // the second Dispatch is dropped by the dedup bucket
		if err := d.Dispatch(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	msgs := s.Messages(t, StreamNotifications)
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.Subject != "breachd.notifications.opened" || got.Header.Get(bus.HeaderMsgID) != m.DeliveryID() {
		t.Fatalf("subject %q, msg id %q", got.Subject, got.Header.Get(bus.HeaderMsgID))
	}
	var p WebhookPayload
	if err := json.Unmarshal(got.Data, &p); err != nil {
		t.Fatal(err)
	}
	if p.Key != m.Key || p.Incident == nil || p.Incident.ID != m.Incident.ID || p.Delivery != m.DeliveryID() {
		t.Fatalf("payload = %+v", p)
	}
	if n := counter(t, d.metrics.sends.WithLabelValues("bus", resultDuplicate)); n != 1 {
		t.Fatalf("duplicate metric = %v, want 1", n)
	}

	// Without the dedup bucket, JetStream's duplicate window still drops a re-send.
	ch, err := NewNATS("bus", s.JS, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if n := s.Count(t, StreamNotifications); n != 1 {
		t.Fatalf("after a direct re-send the stream holds %d, want 1", n)
	}
	// A deadline escalation goes to its own subject.
	m2 := m
	m2.Key, m2.Kind = m.Incident.ID+"/deadline-24h", DeadlineKind(24*time.Hour)
	if err := ch.Send(ctx, m2); err != nil {
		t.Fatal(err)
	}
	if last := s.Messages(t, StreamNotifications)[1]; last.Subject != "breachd.notifications.deadline-24h" {
		t.Fatalf("subject = %q", last.Subject)
	}
}

func TestNATSChannelNoStreamIsTransient(t *testing.T) {
	s := bustest.StartServer(t)
	ch, _ := NewNATS("bus", s.JS, "", false)
	err := ch.Send(ctxT(t), testMessage())
	if err == nil || retry.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error (no stream yet)", err)
	}
}

func TestNATSChannelCore(t *testing.T) {
	s := bustest.StartServer(t)
	sub, err := s.NC.SubscribeSync("ops.breachd.>")
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := NewNATS("core", s.JS, "ops.breachd", true)
	m := testMessage()
	if err := ch.Send(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	got, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "ops.breachd.opened" || got.Header.Get(HeaderDelivery) != m.DeliveryID() {
		t.Fatalf("got %q %v", got.Subject, got.Header)
	}
}
