package notify

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
)

// Failover: the notifiers' durable has one priority group with the pinned-client policy
// (PinnedTTL = Options.FailoverAfter), so of several notifier processes one is active (the
// server delivers only to it) and the others are hot standbys; when the active stops renewing
// its pin for FailoverAfter (killed, paused, cut off), the server pins a standby. The notifier
// that is pinned anew resets the durable to its ack floor first, so the alerts the previous
// active held come again at once instead of after AckWait. Handling an alert twice is harmless
// (the incidents are changed by compare-and-set, deactivations claimed once), so a notifier
// that loses its pin simply stands by again. This is the detector's mechanism (detect/pin.go),
// without its ordering and state concerns.

// pinGroup is the one priority group of the notifiers' durable.
const pinGroup = "active"

// DefaultFailoverAfter is Options.FailoverAfter unless set.
const DefaultFailoverAfter = 5 * time.Second

// pinOf returns the pin id the server stamped on msg ("" when it came without one).
func pinOf(msg jetstream.Msg) string {
	if h := msg.Headers(); h != nil {
		return h.Get("Nats-Pin-Id")
	}
	return ""
}

// takeOver resets the durable to its ack floor (the alerts delivered to the previous active
// and not acked come again at once) once the server pinned this notifier.
func (n *Notifier) takeOver(ctx context.Context) error {
	if _, err := n.js.ResetConsumer(ctx, bus.StreamAlerts, n.durable); err != nil {
		return err
	}
	n.metrics.takeovers.Inc()
	n.log.Info("took over the notifiers' durable", "durable", n.durable)
	return nil
}

// keepPin renews the pin while the notifier handles a pull (up to Batch alerts, each bounded by
// handleTimeout, may take longer than FailoverAfter): a pull request with the pin id and
// max_bytes 1 renews the pin timer on arrival and can take no message (see detect/pin.go).
// It sends one only while the notifier is active (n.active) and has not fetched for a quarter
// of FailoverAfter.
func (n *Notifier) keepPin(ctx context.Context, cons jetstream.Consumer) {
	every := n.failoverAfter / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !n.active.Load() || time.Since(time.Unix(0, n.lastFetch.Load())) < every {
			continue
		}
		if bus.RenewPin(cons, pinGroup, every/2) {
			n.setActive(false) // the next fetch tells Run
		}
	}
}

// unpin gives the pin up at a clean stop, if this notifier still holds it (the server says so:
// after a pause it may have pinned another notifier, which must keep its pin), so that a
// standby takes over at once.
func (n *Notifier) unpin(cons jetstream.Consumer, pin string) {
	if !n.active.Load() || pin == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := cons.Info(ctx)
	if err != nil {
		n.log.Warn("could not ask whether this notifier still holds the pin; not giving it up: a standby notifier takes over after --failover-after", "err", err)
		return
	}
	if held, _ := bus.PinnedClient(info, pinGroup); held != pin {
		return // another notifier holds it now
	}
	if err := bus.Unpin(ctx, n.js, bus.StreamAlerts, n.durable, pinGroup); err != nil {
		n.log.Warn("could not give the pin up: a standby notifier takes over after --failover-after", "err", err)
	}
}

// setActive records whether this notifier holds the pin (the keep-alive and the gauge read it).
func (n *Notifier) setActive(on bool) {
	n.active.Store(on)
	if on {
		n.metrics.active.Set(1)
	} else {
		n.metrics.active.Set(0)
	}
}
