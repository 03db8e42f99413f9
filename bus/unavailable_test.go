package bus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/bus/bustest"
)

// The errors of a cluster's failover are worth publishing again; refusals are not.
func TestUnavailable(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("publish breachd.events.directory: %w", jetstream.ErrNoStreamResponse), true}, // the stream had no leader
		{fmt.Errorf("publish x: %w", nats.ErrDisconnected), true},                                 // pending acks at a reconnect
		{nats.ErrConnectionReconnecting, true},
		{nats.ErrNoResponders, true},
		{nats.ErrTimeout, true},
		{jetstream.ErrAsyncPublishTimeout, true},
		{fmt.Errorf("publish breachd.events.access.3: %w", &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}), true}, // the server died under the write
		{fmt.Errorf("wrapped: %w", &jetstream.APIError{Code: 503, Description: "JetStream system temporarily unavailable"}), true},
		{&jetstream.APIError{Code: 400, Description: "maximum payload exceeded"}, false},
		{nats.ErrPermissionViolation, false},
		{nats.ErrMaxPayload, false},
		{errors.New("something else"), false},
		{nil, false},
	}
	for _, c := range cases {
		if got := bus.Unavailable(c.err); got != c.want {
			t.Errorf("Unavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// A publish nobody answers — a stream leader that died after it received the message — fails
// after PubAckTimeout with an error Unavailable accepts, instead of waiting forever.
func TestUnansweredPublishTimesOut(t *testing.T) {
	s := bustest.StartServer(t)
	defer bus.SetPubAckTimeout(200 * time.Millisecond)()
	_, js := s.Connect(t, bus.DefaultWindow)
	// A plain subscriber takes the message and never answers, as the dead leader did.
	sub, err := s.NC.SubscribeSync("breachd.silent")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := s.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := bus.NewPublisher(js).Publish(ctx, "breachd.silent", "m1", []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bus.Wait(ctx, []jetstream.PubAckFuture{f})
	if !errors.Is(err, jetstream.ErrAsyncPublishTimeout) || !bus.Unavailable(err) {
		t.Errorf("Wait = %v, want jetstream.ErrAsyncPublishTimeout (unavailable) well before the test's 10 s", err)
	}
}
