package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/bus/bustest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPublisherDeduplicatesByMsgID(t *testing.T) {
	s := bustest.Start(t)
	ctx := testCtx(t)
	pub := bus.NewPublisher(s.JS)
	hdr := nats.Header{}
	hdr.Set(bus.HeaderSource, "test")
	sends := []struct{ id, data string }{
		{"ev-1", "first"},
		{"ev-1", "second, same id"}, // dropped by JetStream: content does not matter
		{"ev-2", "first"},           // same content, other id: stored
		{"", "no id"},               // no id: never deduplicated
		{"", "no id"},
	}
	var futures []jetstream.PubAckFuture
	for _, m := range sends {
		f, err := pub.Publish(ctx, "breachd.events.auth", m.id, []byte(m.data), hdr)
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	acks, err := bus.Wait(ctx, futures)
	if err != nil {
		t.Fatal(err)
	}
	wantDup := []bool{false, true, false, false, false}
	for i, a := range acks {
		if a.Duplicate != wantDup[i] {
			t.Errorf("ack %d (%+v): Duplicate = %v, want %v", i, sends[i], a.Duplicate, wantDup[i])
		}
		if a.Stream != bus.StreamEvents {
			t.Errorf("ack %d stream = %s", i, a.Stream)
		}
	}
	msgs := s.Messages(t, bus.StreamEvents)
	var got []string
	for _, m := range msgs {
		got = append(got, m.Header.Get(bus.HeaderMsgID)+"="+string(m.Data))
	}
	if want := []string{"ev-1=first", "ev-2=first", "=no id", "=no id"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored %q, want %q", got, want)
	}
	// The caller's header travels with every message and is not modified: a Nats-Msg-Id left
	// in a reused header would make later messages duplicates of an earlier one.
	for _, m := range msgs {
		if m.Header.Get(bus.HeaderSource) != "test" {
			t.Errorf("header %s lost: %v", bus.HeaderSource, m.Header)
		}
	}
	if len(hdr) != 1 {
		t.Errorf("Publish modified the caller's header: %v", hdr)
	}
}

func TestWaitReturnsAcksInOrder(t *testing.T) {
	s := bustest.Start(t)
	ctx := testCtx(t)
	pub := bus.NewPublisher(s.JS)
	var futures []jetstream.PubAckFuture
	for i := range 50 {
		f, err := pub.Publish(ctx, "breachd.alerts.high", fmt.Sprintf("al-%d", i), []byte("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	acks, err := bus.Wait(ctx, futures)
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != len(futures) {
		t.Fatalf("%d acks for %d futures", len(acks), len(futures))
	}
	for i, a := range acks {
		if a.Sequence != uint64(i+1) || a.Stream != bus.StreamAlerts {
			t.Errorf("ack %d = %s seq %d, want %s seq %d", i, a.Stream, a.Sequence, bus.StreamAlerts, i+1)
		}
	}
}

// A subject no stream captures gets a "no responders" status; after the client's retries the
// future fails with ErrNoStreamResponse, and Wait reports the first failing future in order.
func TestWaitReturnsFirstError(t *testing.T) {
	s := bustest.Start(t)
	ctx := testCtx(t)
	pub := bus.NewPublisher(s.JS)
	var futures []jetstream.PubAckFuture
	for _, subject := range []string{"breachd.events.auth", "nowhere.first", "breachd.events.auth", "nowhere.second"} {
		f, err := pub.Publish(ctx, subject, "", []byte("x"), nil)
		if err != nil {
			t.Fatalf("publish to %s: %v (an unroutable subject must fail in the future, not here)", subject, err)
		}
		futures = append(futures, f)
	}
	acks, err := bus.Wait(ctx, futures)
	if err == nil {
		t.Fatalf("Wait = %v, nil error; want the no-responders error", acks)
	}
	if !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Errorf("err = %v, want it to wrap jetstream.ErrNoStreamResponse", err)
	}
	if !strings.Contains(err.Error(), "nowhere.first") || strings.Contains(err.Error(), "nowhere.second") {
		t.Errorf("err = %v, want it to name the first failing subject only", err)
	}
	if acks != nil {
		t.Errorf("acks = %v with an error, want nil", acks)
	}
}

// blackhole subscribes to a core NATS subject and never replies: a publish there is neither
// acked nor answered with "no responders", so its future stays pending (there is no async ack
// timeout) and, with a window of 1, keeps the window full for as long as the test wants.
func blackhole(t *testing.T, nc *nats.Conn) (string, *nats.Subscription) {
	t.Helper()
	const subject = "test.blackhole"
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return subject, sub
}

func TestPublishRespectsContextWhenWindowFull(t *testing.T) {
	s := bustest.Start(t)
	_, js := s.Connect(t, 1)
	subject, sub := blackhole(t, s.NC)
	pub := bus.NewPublisher(js)

	first, err := pub.Publish(testCtx(t), subject, "m-1", []byte("fills the window"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("the first message did not arrive: %v", err)
	}

	// The window stays full: Publish must give up when ctx ends, not publish, not hang. The
	// context is already cancelled, so the outcome does not depend on timing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, err := pub.Publish(ctx, subject, "m-2", []byte("must not be sent"), nil)
	if !errors.Is(err, context.Canceled) || f != nil {
		t.Fatalf("Publish with a full window and a cancelled ctx = %v, %v; want nil, context.Canceled", f, err)
	}
	if m, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		t.Errorf("a message was sent although Publish failed: %q", m.Data)
	}
	select {
	case a := <-first.Ok():
		t.Fatalf("the blackholed message was acked: %+v", a)
	default:
	}
	if n := js.PublishAsyncPending(); n != 1 {
		t.Errorf("pending = %d, want 1", n)
	}

	// Wait gives up on the pending future when its ctx ends, too.
	wctx, wcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer wcancel()
	if _, err := bus.Wait(wctx, []jetstream.PubAckFuture{first}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on a future that never completes = %v, want context.DeadlineExceeded", err)
	}
}

// With a window of 1 and acks that do come, Publish waits for the window instead of failing.
func TestPublishWaitsForWindow(t *testing.T) {
	s := bustest.Start(t)
	_, js := s.Connect(t, 1)
	pub := bus.NewPublisher(js)
	ctx := testCtx(t)
	var futures []jetstream.PubAckFuture
	for i := range 20 {
		f, err := pub.Publish(ctx, "breachd.incidents.opened", fmt.Sprint(i), []byte("x"), nil)
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		futures = append(futures, f)
	}
	if _, err := bus.Wait(ctx, futures); err != nil {
		t.Fatal(err)
	}
	if n := s.Count(t, bus.StreamIncidents); n != 20 {
		t.Errorf("INCIDENTS holds %d, want 20", n)
	}
}
