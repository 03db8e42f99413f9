package channel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

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
	if err := m.Validate(); err != nil {
		return retry.Permanent(fmt.Errorf("dispatch: %w", err))
	}
	if !slices.Contains(d.router.Channels(&m), name) {
		return nil
	}
	if m.Link == "" && d.linkBase != "" && m.Incident != nil {
		m.Link = d.linkBase + "/incidents/" + url.PathEscape(m.Incident.ID)
	}
	if owner, busy := d.dedup.inFlight(ctx, name, m.Key); busy {
		return retry.Transient(fmt.Errorf("channel %s: %s: %w (%s)", name, m.Key, ErrInFlight, owner), 0)
	}
	return d.deliver(ctx, s, m)
}

// inFlight reports whether a live "sending" claim of another delivery holds (channel, key). A
// read error counts as not in flight: claim decides then.
func (d *dedup) inFlight(ctx context.Context, channel, key string) (owner string, busy bool) {
	e, err := d.kv.Get(ctx, dedupKey(channel, key))
	if errors.Is(err, jetstream.ErrKeyNotFound) || err != nil {
		return "", false
	}
	var r record
	if json.Unmarshal(e.Value(), &r) != nil {
		return "", false
	}
	return r.Owner, r.State == stateSending && d.clock().Sub(r.At) < d.lease
}
