package detect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/retry"
)

// priorityGroup is the one priority group of a detector's durable: the server delivers its
// messages only to the pinned client of the group, so any number of processes may run the same
// member, one active and the others hot standbys (see doc.go, "Failover").
const priorityGroup = "active"

// DefaultFailoverAfter is Options.FailoverAfter unless set: the consumer's PinnedTTL.
const DefaultFailoverAfter = 5 * time.Second

// MinFailoverAfter is the shortest Options.FailoverAfter: below it a pause of the garbage
// collector or a slow API request could cost a live active its pin.
const MinFailoverAfter = time.Second

// errLostPin ends an active period: the server has pinned another client (or none) to the
// durable, so this detector must stop evaluating at once and stand by again.
var errLostPin = errors.New("lost the pin of the durable to another detector")

// pinOf returns the pin id the server stamped on m (empty when m was not delivered through a
// pinned priority group).
func pinOf(m jetstream.Msg) string {
	if h := m.Headers(); h != nil {
		return h.Get("Nats-Pin-Id")
	}
	return ""
}

// standby waits until the server pins this detector to the durable and returns the pin. It asks
// for one message at a time: a request of an unpinned client waits on the server until no
// client holds the pin (the active stopped asking for FailoverAfter) and a message is there;
// then the server pins it. The message is not acked: takeOver resets the durable, which
// delivers it again. While it waits the directory tail keeps the catalogue current.
func (d *Detector) standby(ctx context.Context, cons jetstream.Consumer) (pinned, error) {
	wait := d.opts.FailoverAfter
	for ctx.Err() == nil {
		fetched, err := cons.Fetch(1, jetstream.FetchMaxWait(wait), jetstream.FetchPriorityGroup(priorityGroup))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			d.log.Warn("standby fetch failed", "err", err)
			_ = retry.Sleep(ctx, time.Second)
			continue
		}
		var got pinned
		for m := range fetched.Messages() {
			got.pin = pinOf(m)
			if md, err := m.Metadata(); err == nil && md.NumDelivered == 1 {
				got.firstSeq = md.Sequence.Stream
			}
		}
		if got.pin != "" {
			return got, nil
		}
		// A stale pin id of an earlier active period is refused (423) and forgotten by the
		// client; the next request asks as a standby. Other ends (timeout, no messages) are
		// the normal standby.
		if err := fetched.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, jetstream.ErrPinIDMismatch) &&
			!errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			d.log.Warn("standby fetch ended with error", "err", err)
			_ = retry.Sleep(ctx, time.Second)
		}
	}
	return pinned{}, ctx.Err()
}

// pinned is what standby returns: the pin, and the stream sequence of the message that came
// with it if this was its first delivery (else 0).
type pinned struct {
	pin      string
	firstSeq uint64
}

// takeOver starts an active period, once pinned: it reads the highest stream sequence the
// durable has ever delivered (to the previous active, or to this process before a restart), resets
// the durable to its ack floor — the server forgets the pending deliveries, so they come again
// at once and in stream order, before any later event, instead of after AckWait — and returns
// the new ack floor. After the reset every delivery counts as a first one, so the messages up to
// that sequence are treated as maybe stored (again): the history writes ask Unwritten first.
//
// The reset lowers the durable's delivered sequence to the ack floor, so that sequence alone
// does not outlive a second takeover (the next active would take messages the first one stored
// for new): the highest one is kept in the durable's metadata (maybeStoredKey) before each reset,
// and the mark is the larger of the two. The mark is never lowered; once the ack floor has passed
// it, it marks nothing.
//
// The message that came with the pin was delivered last (nothing is delivered to anybody else
// while this detector holds the pin); when that was its first delivery and it lies above the
// kept mark, nobody has seen it, nor anything after it, so it is not counted as maybe stored.
func (d *Detector) takeOver(ctx context.Context, cons jetstream.Consumer, got pinned) (floor uint64, err error) {
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("detect consumer %s info: %w", d.Durable(), err)
	}
	d.notePinnedTTL(info.Config.PinnedTTL)
	kept := maybeStored(info.Config)
	mark := max(kept, info.Delivered.Stream)
	if got.firstSeq != 0 && got.firstSeq == info.Delivered.Stream && got.firstSeq > kept {
		mark = max(kept, got.firstSeq-1)
	}
	if mark > kept {
		cfg := info.Config
		cfg.Metadata = maps.Clone(cfg.Metadata)
		if cfg.Metadata == nil {
			cfg.Metadata = map[string]string{}
		}
		cfg.Metadata[maybeStoredKey] = strconv.FormatUint(mark, 10)
		if _, err := d.js.UpdateConsumer(ctx, bus.StreamEvents, cfg); err != nil {
			return 0, fmt.Errorf("keep the delivered sequence of detect consumer %s before resetting it: %w", d.Durable(), err)
		}
	}
	reset, err := d.js.ResetConsumer(ctx, bus.StreamEvents, d.Durable())
	if err != nil {
		return 0, fmt.Errorf("reset detect consumer %s to its ack floor: %w", d.Durable(), err)
	}
	d.againUpTo = mark
	return reset.AckFloor.Stream, nil
}

// maybeStoredKey is the key, in the durable's metadata, of the highest stream sequence it had
// delivered before any reset (takeOver): messages up to it may be stored already.
const maybeStoredKey = "breachd.maybe_stored_upto"

// maybeStored returns the sequence kept under maybeStoredKey in cfg (0: none).
func maybeStored(cfg jetstream.ConsumerConfig) uint64 {
	n, _ := strconv.ParseUint(cfg.Metadata[maybeStoredKey], 10, 64)
	return n
}

// keepPin keeps the pin while this detector is active, also while it fetches nothing (Run is
// retrying a history write, the fetcher holds a full batch): the server drops a pin that no
// request with its id renewed for FailoverAfter. When the fetcher has sent no request for
// FailoverAfter/4 (it holds a full batch for a busy Run), it sends a pull request with the pin
// id and max_bytes 1, which renews the pin timer on arrival (nats-server
// consumer.go processNextMsgRequest: setPinnedTimer) and can take no message: a message bigger
// than the request's bytes ends it with 409 Message Size Exceeds MaxBytes (nextWaiting), and
// the message stays for the next fetch; with none pending it expires (408). It is sent only
// while the fetcher is idle because a request that cannot take a redelivered message makes
// the server put that message at the end of its redelivery queue (consumer.go
// loopAndGatherMsgs): the fetcher's batches do not use the redelivery queue (it renews a
// batch held ahead instead of giving it back), but a failed batch's naks do. A 423 (pin id
// mismatch) means the pin is gone: lose is called and keepPin returns.
//
// The interval is a quarter of the durable's PinnedTTL as the server has it (notePinnedTTL),
// which is the FailoverAfter of the process that created or last updated the durable; it is
// read at every tick.
func (d *Detector) keepPin(ctx context.Context, cons jetstream.Consumer, lose func(error)) {
	every := d.keepAliveEvery()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, d.lastRequest.Load())) >= every { // else the fetcher's own requests renew the pin
			if bus.RenewPin(cons, priorityGroup, every/2) { // not sent (connection down): the next tick tries again
				lose(errLostPin)
				return
			}
		}
		// After the request, so that a slow answer does not hold it back.
		if info, err := cons.Info(ctx); err == nil {
			d.notePinnedTTL(info.Config.PinnedTTL) // another process may have changed it
		}
		if now := d.keepAliveEvery(); now != every {
			every = now
			t.Reset(every)
		}
	}
}

// notePinnedTTL records the durable's PinnedTTL as read from the server, which the keep-alive
// paces itself by: processes of one member started with different FailoverAfter values each set
// their own when they start, and a keep-alive paced by a longer local value would lose the pin
// to a standby again and again. It warns once per value that differs from the local one.
func (d *Detector) notePinnedTTL(ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	if old := time.Duration(d.pinnedTTL.Swap(int64(ttl))); old != ttl && ttl != d.opts.FailoverAfter {
		d.log.Warn("the durable's PinnedTTL differs from this process's --failover-after: another process of this member runs with another value; the keep-alive follows the durable's; start every process of a member with the same --failover-after",
			"durable", d.Durable(), "pinned_ttl", ttl, "failover_after", d.opts.FailoverAfter)
	}
}

// keepAliveEvery is how often the keep-alive renews the pin: a quarter of the durable's
// PinnedTTL (notePinnedTTL), of FailoverAfter until it is known.
func (d *Detector) keepAliveEvery() time.Duration {
	return cmp.Or(time.Duration(d.pinnedTTL.Load()), d.opts.FailoverAfter) / 4
}

// stillPinned asks the server whether this detector still holds the pin, before a batch is
// written: a process that was paused longer than FailoverAfter (or cut off from NATS) learns it
// there, not after writing rows and alerts that the new active writes too. The question is
// asked again until answered or ctx ends (then the batch is not durable and comes again).
func (d *Detector) stillPinned(ctx context.Context, cons jetstream.Consumer, pin string) (bool, error) {
	var info *jetstream.ConsumerInfo
	err := retry.Forever(ctx, historyBackoff, func() (err error) {
		info, err = cons.Info(ctx)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("is this detector still active: %w", err)
	}
	d.notePinnedTTL(info.Config.PinnedTTL)
	held, ok := bus.PinnedClient(info, priorityGroup)
	// !ok: the durable lost its priority group (recreated by hand): stand by and take over anew
	return ok && held == pin, nil
}

// holdsPin tells whether the messages in hand may be given back (nak'd): only when the server
// answered, within FailoverAfter, that this detector still holds the pin. A nak sent while the
// pin state is unknown may reach the server late (nats.go sends what it buffered while cut off
// once it reconnects), after a new active reset the durable and was given those messages: the
// server takes a nak for any pending message of that sequence and delivers it once more, to the
// new active, out of order. Without the answer the messages are left to the new active's reset,
// or to AckWait. When the answer is "not pinned", lose ends the active period.
func (d *Detector) holdsPin(ctx context.Context, cons jetstream.Consumer, pin string, lose func(error)) bool {
	ctx, cancel := context.WithTimeout(ctx, d.opts.FailoverAfter)
	defer cancel()
	pinned, err := d.stillPinned(ctx, cons, pin)
	if err == nil && !pinned {
		lose(errLostPin)
	}
	return err == nil && pinned
}

// unpin gives the pin up at a clean stop, if this detector still holds it, so that a standby
// takes over at once rather than after FailoverAfter.
func (d *Detector) unpin(cons jetstream.Consumer, pin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if pinned, err := d.stillPinned(ctx, cons, pin); err != nil || !pinned {
		return
	}
	if err := bus.Unpin(ctx, d.js, bus.StreamEvents, d.Durable(), priorityGroup); err != nil {
		d.log.Warn("could not give the pin up: a standby takes over after --failover-after", "err", err)
	}
}
