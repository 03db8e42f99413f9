package detect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/event"
)

// warmUp rebuilds the window state the detector had before it stopped: it replays, through
// Warmer.Warm, the events of its partitions that the durable had already acked, from one
// longest window (by stream time) before the ack floor up to the ack floor. Events above the
// floor are not replayed: they were not acked, so they come again through the durable and are
// evaluated then.
//
// It reads with an ephemeral consumer (no acks, in memory, deleted afterwards) filtered like the
// durable. Directory events are not applied to the catalogue again: it was rebuilt from history,
// which holds them all, and applying old changes after newer ones would undo those; they are
// only warmed into windows when this detector owns their account, as they are evaluated.
//
// An error leaves the windows partly warmed; the caller logs it and runs on.
func (d *Detector) warmUp(ctx context.Context, upto uint64) error {
	w, ok := d.eval.(Warmer)
	if !ok || d.opts.NoWarmUp {
		return nil
	}
	span := w.MaxWindow()
	if span <= 0 || upto == 0 {
		return nil
	}
	start := time.Now()
	st, err := d.js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return fmt.Errorf("stream %s: %w", bus.StreamEvents, err)
	}
	floor, err := st.GetMsg(ctx, upto)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		d.log.Info("no warm-up: the ack floor's message has left the stream", "seq", upto)
		return nil
	}
	if err != nil {
		return fmt.Errorf("ack floor message %d: %w", upto, err)
	}
	from := floor.Time.Add(-span)
	c, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		DeliverPolicy:     jetstream.DeliverByStartTimePolicy,
		OptStartTime:      &from,
		FilterSubjects:    d.filters(),
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	})
	if err != nil {
		return fmt.Errorf("warm-up consumer: %w", err)
	}
	name, pending := c.CachedInfo().Name, c.CachedInfo().NumPending
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = st.DeleteConsumer(dctx, name) // else the server removes it after InactiveThreshold
	}()
	var n int
	if pending > 0 {
		n, err = d.replay(ctx, c, w, upto)
	}
	d.metrics.warmed.Add(float64(n))
	if err != nil {
		return fmt.Errorf("warm-up after %d events: %w", n, err)
	}
	d.log.Info("window state warmed up", "events", n, "from", from, "upto_seq", upto, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// restoreTimeout bounds restoring suppression at a start or takeover (a backfill whose events
// are old makes the alerts read reach far back): past it the detector runs on with what it
// restored, as after any failed read.
const restoreTimeout = 2 * time.Minute

// restoreSuppression rebuilds the suppression state the detector had before it stopped: it
// reads from history the alerts of the suppressing rules whose event time is within the longest
// suppression period before the ack floor's time, keeps those of the accounts this detector
// owns (the other members restore theirs), reads their triggering events by id and feeds each
// to Restorer.Restore, oldest first. The ack floor's time is the earlier of its stream time and
// its event time, so that a backfill of old events finds its alerts too.
//
// Alerts of events above the floor are restored as well: those events come again through the
// durable, and Restore lets an alert's own event alert again (the same alert id, dropped as a
// duplicate downstream) while later hits of its key are folded, as in a run without a restart.
//
// An error leaves suppression partly restored; the caller logs it and runs on.
func (d *Detector) restoreSuppression(ctx context.Context, upto uint64) error {
	r, ok := d.eval.(Restorer)
	if !ok || upto == 0 {
		return nil
	}
	periods := r.Suppressions()
	var longest time.Duration
	ids := make([]string, 0, len(periods))
	for id, p := range periods {
		ids, longest = append(ids, id), max(longest, p)
	}
	if len(ids) == 0 {
		return nil
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, restoreTimeout)
	defer cancel()
	st, err := d.js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return fmt.Errorf("stream %s: %w", bus.StreamEvents, err)
	}
	floor, err := st.GetMsg(ctx, upto)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		d.log.Info("suppression not restored: the ack floor's message has left the stream", "seq", upto)
		return nil
	}
	if err != nil {
		return fmt.Errorf("ack floor message %d: %w", upto, err)
	}
	at := floor.Time
	if e, err := event.Parse(floor.Data); err == nil && e.Time.Before(at) {
		at = e.Time
	}
	since := at.Add(-longest)
	alerts, err := d.hist.RecentAlerts(ctx, ids, since)
	if err != nil {
		return err
	}
	mine := alerts[:0]
	for _, a := range alerts {
		if d.owned[d.layout.Partition(a.Account)] {
			mine = append(mine, a)
		}
	}
	events, err := d.hist.AlertedEvents(ctx, mine)
	if err != nil {
		return err
	}
	missing := 0
	for _, a := range mine {
		if e := events[a.EventID]; e != nil {
			r.Restore(a.RuleID, e)
		} else {
			missing++
		}
	}
	d.log.Info("suppression restored", "alerts", len(mine)-missing, "events_missing", missing, "since", since,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

// replay feeds the messages of c up to stream sequence upto to w and returns how many it warmed.
func (d *Detector) replay(ctx context.Context, c jetstream.Consumer, w Warmer, upto uint64) (int, error) {
	n := 0
	var last uint64 // consumer sequence of the last message: a gap means a lost message
	for ctx.Err() == nil {
		batch, err := c.Fetch(d.opts.Batch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return n, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return n, err
			}
			if md.Sequence.Consumer != last+1 {
				return n, fmt.Errorf("message %d of the replay missing", last+1)
			}
			last = md.Sequence.Consumer
			if md.Sequence.Stream > upto {
				return n, nil
			}
			if e, err := event.Parse(m.Data()); err == nil && (e.Kind != event.KindDirectory || d.owns(&e)) {
				w.Warm(&e) // an undecodable or foreign directory event was not evaluated either
				n++
			}
			if md.Sequence.Stream == upto || md.NumPending == 0 {
				return n, nil // the rest of the fetch is not needed: the consumer is deleted
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return n, err
		}
		if got == 0 {
			return n, nil
		}
	}
	return n, ctx.Err()
}
