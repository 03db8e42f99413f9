package bus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Pinned-client priority groups (NATS ≥ 2.11) make one process of several sharing a durable
// the active one: the server delivers only to the client it pinned and pins another once the
// pinned one has sent no pull request for the durable's PinnedTTL. The detector and the
// notifier use them for hot standbys; these are the operations both need.

// RenewPin sends a pull request in group that no message fits (max_bytes 1): the server
// renews the pin of the client holding it and answers 409 "Message Size Exceeds MaxBytes"
// instead of delivering, so an active client that is busy keeps its pin without taking
// anything. It waits at most wait for the answer. lost is true when the server answered that
// another client holds the pin (423); a request that could not be sent (connection down)
// reports nothing.
func RenewPin(cons jetstream.Consumer, group string, wait time.Duration) (lost bool) {
	fetched, err := cons.Fetch(1, jetstream.FetchMaxBytes(1), jetstream.FetchMaxWait(wait), jetstream.FetchPriorityGroup(group))
	if err != nil {
		return false
	}
	for range fetched.Messages() { // none: no message fits one byte
	}
	return errors.Is(fetched.Error(), jetstream.ErrPinIDMismatch)
}

// PinnedClient returns the id of the client pinned in group, as the server reports it in info
// ("" when none is); ok is false when the durable has no such group.
func PinnedClient(info *jetstream.ConsumerInfo, group string) (pin string, ok bool) {
	for _, g := range info.PriorityGroups {
		if g.Group == group {
			return g.PinnedClientID, true
		}
	}
	return "", false
}

// Unpin gives up the pin of durable on stream in group, so that a standby is pinned at its
// next request rather than after PinnedTTL. Callers first make sure that they hold it.
func Unpin(ctx context.Context, js jetstream.JetStream, stream, durable, group string) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	return st.UnpinConsumer(ctx, durable, group)
}
