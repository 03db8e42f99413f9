package bus_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
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
