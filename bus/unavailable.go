package bus

import (
	"errors"
	"net"
	"net/http"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Unavailable reports whether err says that JetStream was out of reach for a while rather than
// that it refused the request: the connection dropped and is being re-established (a server
// of the cluster went away: nats.ErrDisconnected, nats.ErrConnectionReconnecting), nobody
// answered for the stream (it had no leader during a failover: jetstream.ErrNoStreamResponse,
// nats.ErrNoResponders), no answer came in time (nats.ErrTimeout,
// jetstream.ErrAsyncPublishTimeout), the connection's socket failed under a write (the server
// died: a *net.OpError such as "connection reset by peer" or a broken pipe; nats.go then
// reconnects to another server), or JetStream said it is unavailable (API error 503). A
// publisher may publish the same messages again: their Nats-Msg-Id makes that idempotent
// within the stream's duplicate window.
func Unavailable(err error) bool {
	var api *jetstream.APIError
	switch {
	case errors.As(err, &api):
		return api.Code == http.StatusServiceUnavailable
	case errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrAsyncPublishTimeout):
		return true
	}
	var op *net.OpError
	return errors.As(err, &op)
}
