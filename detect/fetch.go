package detect

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/event"
	"breachd/retry"
)

// maxAhead bounds how long the fetcher holds a batch ahead while Run is busy without renewing
// its messages' ack deadlines (InProgress, renew): a batch taken by Run then has its whole
// FlushTimeout before AckWait (FlushTimeout + 30 s, set in consumer) runs out. A variable
// only so that tests can shorten it.
var maxAhead = 2 * MaxFetchWait

// MaxFetchWait is the longest Options.FetchWait (longer is cut to it): a fetch ends within
// maxAhead of the batch's last renewal.
const MaxFetchWait = 10 * time.Second

// batch is what the fetcher hands Run: the messages of one or more fetches whose events
// decoded, in stream order, with their events and evaluation keys.
type batch struct {
	renewed time.Time // when its first fetch began or its ack deadlines were last renewed
	size    int       // messages fetched, terminated ones included
	msgs    []jetstream.Msg
	evs     []*event.Event
	keys    []evalKey
	again   bool // some message was delivered before: its rows may be stored already
}

// fetch fetches and decodes batches and hands them to next, one at a time, until ctx is
// cancelled; then it hands over the batch it holds, if any, and returns. A batch
// is handed over when it is full, or FetchWait after Run became free for it (free), so batches
// hold what arrived while Run made the one before durable plus FetchWait, as large as when
// fetching only after that (an insert costs the engine much per batch, so smaller batches would
// cost more CPU per event), while fetching and decoding overlap with Run's work. While Run is
// busy, the batch held is topped up with short fetches (topUpWait), so that its becoming free
// is noticed soon; a batch held for maxAhead has its ack deadlines renewed, so it stays in hand
// (in stream order, before everything fetched later) however long Run is busy.
//
// When the pin is lost (lost), the batch held is dropped unacked: the next active's reset
// delivers it again. A fetch refused with 423 or bringing messages stamped with another pin
// loses the pin (lose).
func (d *Detector) fetch(ctx, lost context.Context, lose func(error), cons jetstream.Consumer, pin string, free <-chan time.Time, next chan<- *batch) {
	var b *batch         // fetched ahead, not taken by Run yet
	var freeAt time.Time // when Run became free for b; zero while it is busy
	defer func() {
		if b == nil || lost.Err() != nil {
			return
		}
		// Run finishes it: it reads next until it is closed.
		t := time.NewTicker(maxAhead / 2)
		defer t.Stop()
		for {
			if time.Since(b.renewed) >= maxAhead/2 {
				d.renew(b)
			}
			select {
			case next <- b:
				if freeAt.IsZero() {
					<-free // Run signalled before it took b, as in the loop
				}
				return
			case <-lost.Done():
				return
			case <-t.C:
			}
		}
	}()
	for ctx.Err() == nil {
		if freeAt.IsZero() {
			select {
			case freeAt = <-free:
			default:
			}
		}
		if b != nil && time.Since(b.renewed) >= maxAhead {
			d.renew(b)
		}
		full := b != nil && b.size >= d.opts.Batch
		if full || b != nil && !freeAt.IsZero() && time.Since(freeAt) >= d.opts.FetchWait {
			// Run reads next until it is closed. A full batch waits for a busy Run no longer
			// than maxAhead from its last renewal: then it is renewed, above.
			var timer *time.Timer
			var expired <-chan time.Time
			if freeAt.IsZero() {
				timer = time.NewTimer(maxAhead - time.Since(b.renewed))
				expired = timer.C
			}
			handed := true
			select {
			case next <- b:
			case <-expired:
				handed = false
			}
			if timer != nil {
				timer.Stop()
			}
			if !handed {
				continue
			}
			if freeAt.IsZero() {
				<-free // Run signalled before it took b
			}
			b, freeAt = nil, time.Time{}
			continue
		}
		wait := topUpWait // Run is busy
		if !freeAt.IsZero() {
			// The rest of Run's wait; past it nothing has come yet, so wait for what comes.
			if wait = d.opts.FetchWait - time.Since(freeAt); wait < time.Millisecond {
				wait = d.opts.FetchWait
			}
		}
		if b != nil {
			wait = max(min(wait, maxAhead-time.Since(b.renewed)), time.Millisecond)
		}
		want := d.opts.Batch
		if b != nil {
			want -= b.size
		}
		start := time.Now()
		d.lastRequest.Store(start.UnixNano())
		fetched, err := cons.Fetch(want, jetstream.FetchMaxWait(wait), jetstream.FetchPriorityGroup(priorityGroup))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.log.Warn("fetch failed", "err", err)
			_ = retry.Sleep(ctx, time.Second)
			continue
		}
		var msgs []jetstream.Msg
		for m := range fetched.Messages() {
			msgs = append(msgs, m)
		}
		// A 423 (another client holds the pin), or messages stamped with another pin (the
		// client forgot ours after a 423 of the keep-alive and the server pinned it anew,
		// without the reset of a takeover): this active period is over.
		if errors.Is(fetched.Error(), jetstream.ErrPinIDMismatch) || slices.ContainsFunc(msgs, func(m jetstream.Msg) bool { return pinOf(m) != pin }) {
			lose(errLostPin)
			return
		}
		if err := fetched.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			d.log.Warn("fetch ended with error", "err", err, "received", len(msgs))
			if len(msgs) == 0 {
				// The consumer has no leader (a server of the cluster died): the next fetch
				// would fail at once too, so do not spin.
				_ = retry.Sleep(ctx, fetchErrorPause)
			}
		}
		if len(msgs) == 0 {
			continue
		}
		if b == nil {
			b = &batch{renewed: start}
		}
		d.decode(b, msgs)
	}
}

// renew restarts the ack deadlines (AckWait) of a batch held ahead (InProgress), so that it
// is not redelivered while held or, once handed over, while Run works on it.
func (d *Detector) renew(b *batch) {
	for _, m := range b.msgs {
		_ = m.InProgress()
	}
	b.renewed = time.Now()
}

// fetchErrorPause is the pause after a fetch that ended with an error and nothing: short
// against FailoverAfter, so that the pin is renewed in time once the consumer has a leader.
const fetchErrorPause = 250 * time.Millisecond

// topUpWait bounds a fetch that tops up a batch while Run is busy: how late the fetcher may
// notice that Run became free.
const topUpWait = 50 * time.Millisecond

// decode decodes the events of msgs and appends them to b; it terminates a message that does
// not decode.
func (d *Detector) decode(b *batch, msgs []jetstream.Msg) {
	evs := make([]event.Event, len(msgs)) // one allocation for the fetch
	b.size += len(msgs)
	for i, m := range msgs {
		e := &evs[i]
		var err error
		// Parse validates again what ingest validated. Only the ingest paths may publish on
		// the events subjects (deploy/natsperm.go), so an invalid event means a foreign or
		// broken publisher, and Validate keeps what rules and history read within the contract
		// (identifiers normalised and free of control characters, enumerations, a time history
		// can store). It costs some 0.25 µs per event, under 1 % of the pipeline's CPU per
		// event (BenchmarkParse: fast against decode).
		if *e, err = event.Parse(m.Data()); err != nil {
			// Ingest validated it, so this is a foreign publisher on our subjects.
			d.log.Error("undecodable message on events stream, terminated", "subject", m.Subject(), "err", err)
			_ = m.Term()
			d.metrics.invalid.Inc()
			continue
		}
		key, redelivered := keyOf(m, e.ID)
		// At or below againUpTo a message may have been delivered before the takeover's reset,
		// which starts delivery counts again at 1.
		b.again = b.again || redelivered || key.seq <= d.againUpTo
		b.msgs = append(b.msgs, m)
		b.evs = append(b.evs, e)
		b.keys = append(b.keys, key)
	}
}

// release naks a batch fetched ahead that Run will not evaluate (shutdown began while
// history was failing), so that its events come again at once, in order, rather than after
// AckWait. Nothing of it was evaluated, so nothing is remembered. It is called only once the
// server answered that this detector still holds the pin (holdsPin). A nak that does not reach
// the server leaves the events to come again after AckWait.
func (d *Detector) release(b *batch) {
	for _, m := range b.msgs {
		_ = m.Nak()
	}
}
