package channel

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"breachd/retry"
)

// Channels returns the names of the dispatcher's channels, sorted.
func (d *Dispatcher) Channels() []string {
	names := make([]string, 0, len(d.channels))
	for n := range d.channels {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ErrInFlight means another sender holds a live claim on the message for the channel: it is
// being sent now, or its sender died less than a lease ago. It is transient: try again later.
var ErrInFlight = errors.New("being sent by another sender")

// DispatchTo delivers m to the channel name if m's route selects it (else it does nothing and
// returns nil), with the retries and deduplication of Dispatch. Unlike Dispatch it does not
// report a message that another sender is sending as done: it returns a transient error
// wrapping ErrInFlight, so a caller that retries until nil (a durable consumer) delivers the
// message even if that sender dies before it succeeds (once the claim's lease has run out).
func (d *Dispatcher) DispatchTo(ctx context.Context, name string, m Message) error {
	s, ok := d.channels[name]
	if !ok {
		return retry.Permanent(fmt.Errorf("dispatch: no channel %q", name))
	}
	if err := d.prepare(&m); err != nil {
		return err
	}
	if !slices.Contains(d.router.Channels(&m), name) {
		return nil
	}
	return d.deliver(ctx, s, m, true)
}
