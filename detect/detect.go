package detect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"breachd/bus"
	"breachd/event"
	"breachd/retry"
)

// Evaluator evaluates the rules on one event and returns its alerts. It is called from one
// goroutine at a time, in stream order; it must not block on I/O for long.
type Evaluator interface {
	Evaluate(ctx context.Context, e *event.Event) []event.Alert
}

// Catalogue is the directory the rules read. Apply is called with every directory event, in
// stream order, before the event is evaluated. HomeOrg returns the organisation an account
// belongs to by the directory (directory.Directory.HomeOrg), ok false when it cannot tell; it
// must not block.
type Catalogue interface {
	Apply(e *event.Event) error
	HomeOrg(account string) (org string, ok bool)
}

// History stores events and alerts. Each write returns nil only when the rows are durable.
// Unwritten and UnwrittenAlerts return the rows not stored yet: the detector asks before
// writing a batch that may have been written before (redelivered, or retried after an error),
// so that a crash between the insert and the ack leaves no row stored twice.
type History interface {
	WriteEvents(ctx context.Context, evs []*event.Event) error
	WriteAlerts(ctx context.Context, alerts []event.Alert) error
	Unwritten(ctx context.Context, evs []*event.Event) ([]*event.Event, error)
	UnwrittenAlerts(ctx context.Context, alerts []event.Alert) ([]event.Alert, error)
	// RecentAlerts returns the alerts of rules whose event time is at or after since, oldest
	// first (rule, account, event id, kind and time); AlertedEvents reads their events by id,
	// keyed by event id. A detector restores its suppression from them on start.
	RecentAlerts(ctx context.Context, ruleIDs []string, since time.Time) ([]event.Alert, error)
	AlertedEvents(ctx context.Context, alerts []event.Alert) (map[string]*event.Event, error)
}

// Warmer is implemented by an Evaluator whose window state can be rebuilt on start
// (rules.Engine): Warm records an event already evaluated before a restart in the windows,
// without alerting; MaxWindow is how far back that must go (0: no windows).
type Warmer interface {
	Warm(e *event.Event)
	MaxWindow() time.Duration
}

// Restorer is implemented by an Evaluator whose suppression state can be rebuilt on start
// (rules.Engine): Suppressions are its suppressing rules by id with their periods; Restore
// records that a rule alerted on an event before the restart, as when it alerted.
type Restorer interface {
	Suppressions() map[string]time.Duration
	Restore(ruleID string, e *event.Event)
}

// Forgetter is implemented by an Evaluator whose state can be dropped (rules.Engine): Forget
// empties its windows and suppression, as in a new engine. A detector that lost its pin calls
// it before it stands by again, so that a later takeover warms up from nothing.
type Forgetter interface {
	Forget()
}

// Options configures a Detector.
type Options struct {
	// Member and Members place this detector in a set of Members detectors sharing the EVENTS
	// stream (default 0 of 1): it owns the partitions p with p mod Members == Member, and
	// consumes them and the directory events through the durable DurableName(Member, Members).
	// Every detector of a set must run with the same Members and a different Member.
	Member, Members int
	// NoWarmUp skips rebuilding window state from the stream on start (see doc.go).
	NoWarmUp bool
	// Batch is the most events per batch, and so per history insert (default 20000: an insert
	// costs the engine much per batch and little per row, so a detector catching up on a
	// backlog spends about a quarter less CPU per event than with 4000, for some 3–5 KB an
	// event in hand, twice over with the batch fetched ahead, see doc.go). FetchWait bounds how long a
	// batch goes on filling once the detector is free for it (default 250 ms): a detector
	// keeping up takes what arrived while it wrote the batch before and in that time, so the
	// batch size adds no latency; at most MaxFetchWait.
	Batch        int
	FetchWait    time.Duration
	FlushTimeout time.Duration // bound on finishing one batch from its fetch, also at shutdown (default 60 s)
	// FailoverAfter is the durable's PinnedTTL (default DefaultFailoverAfter, at least
	// MinFailoverAfter): a standby of the same member takes over once the active detector has
	// not renewed its pin for this long (a kill, a pause, a partition). Shorter fails over
	// sooner; too short lets a live detector that the scheduler or a stop-the-world pause holds
	// back for longer lose its pin, which costs a takeover (reset and warm-up) but loses nothing.
	FailoverAfter time.Duration
	// CatalogueAt is the stream sequence up to which the catalogue given to New holds every
	// directory event: the set's lowest ack floor read (CatalogueFloor) before the catalogue was
	// rebuilt from history, which holds every directory event every member has acked. The
	// detector applies the directory events after it from the stream before it evaluates
	// anything (0: the whole stream, for a catalogue built from nothing).
	CatalogueAt uint64
	Clock       func() time.Time
	// AfterEventsWritten, if set, is called after each batch's events are stored and before
	// anything is acked: a fault-injection point for crash tests.
	AfterEventsWritten func()
	Logger             *slog.Logger
	Registerer         prometheus.Registerer
}

// Detector is the detector stage.
type Detector struct {
	js      jetstream.JetStream
	pub     *bus.Publisher
	eval    Evaluator
	cat     Catalogue
	hist    History
	opts    Options
	log     *slog.Logger
	metrics *metrics
	// redo holds what this detector made of events in batches it could not make durable, for
	// their redelivery; only Run's goroutine touches it.
	redo *evaluated
	// Set by Run before it consumes: the stream's partition layout and the partitions this
	// detector owns (indexed by partition).
	layout bus.Layout
	owned  []bool
	// misrouted is set once an activity event arrived on a partition that its account does not
	// hash to (a publisher with another layout); only Run's goroutine touches it.
	misrouted bool
	// againUpTo is the highest stream sequence the durable had delivered when this detector
	// took over: a message at or below it may be stored already (takeOver).
	againUpTo uint64
	// lastRequest is when the fetcher last asked for messages (unix ns): its requests renew
	// the pin too, so the keep-alive sends only when the fetcher has not for a while.
	lastRequest atomic.Int64
	// pinnedTTL is the durable's PinnedTTL as last read from the server (ns; 0: not read yet),
	// which paces the keep-alive (notePinnedTTL).
	pinnedTTL atomic.Int64
	ready     chan struct{} // closed by Run once its consumer is created or updated
}

// New returns a Detector. js must have been set up with bus.Ensure.
func New(js jetstream.JetStream, eval Evaluator, cat Catalogue, hist History, opts Options) (*Detector, error) {
	opts.Members = cmp.Or(max(opts.Members, 0), 1)
	opts.Batch = cmp.Or(max(opts.Batch, 0), 20000)
	opts.FetchWait = min(cmp.Or(max(opts.FetchWait, 0), 250*time.Millisecond), maxAhead/2) // MaxFetchWait
	opts.FlushTimeout = cmp.Or(max(opts.FlushTimeout, 0), 60*time.Second)
	opts.FailoverAfter = max(cmp.Or(opts.FailoverAfter, DefaultFailoverAfter), MinFailoverAfter)
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	opts.Logger = cmp.Or(opts.Logger, slog.Default())
	m, err := newMetrics(opts.Registerer, opts.Member)
	if err != nil {
		return nil, err
	}
	return &Detector{js: js, pub: bus.NewPublisher(js), eval: eval, cat: cat, hist: hist, opts: opts,
		log: opts.Logger.With("component", "detect"), metrics: m,
		redo: newEvaluated(maxAckPending(opts.Batch)), ready: make(chan struct{})}, nil
}

// Ready is closed once Run has created or updated its durable consumer. Publish what the
// detector must see for an idle check (deploy.WaitIdle) after it: right after an update the
// server may count the consumer's pending messages as none for a moment, so events published
// while the update runs can look consumed before they are.
func (d *Detector) Ready() <-chan struct{} { return d.ready }

// maxAckPending bounds the events delivered to the consumer and not yet acked (nak'd ones
// included: a nak with delay keeps them pending).
func maxAckPending(batch int) int { return 4 * batch }

// Durable is the name of the detector's durable consumer on EVENTS.
func (d *Detector) Durable() string { return DurableName(d.opts.Member, d.opts.Members) }

// Run reads the partition layout, creates or resumes its durable consumer and stands by until
// the server pins it to the durable (at once when no other detector of the same member runs,
// else when the active one stops asking for FailoverAfter); then it takes over: resets the
// durable to its ack floor, warms the window state up from the stream and consumes (see
// doc.go). When it loses the pin it drops what it holds unacked, forgets its window state and
// stands by again. When ctx is cancelled it finishes the batch in hand, gives the pin up and
// returns nil. It returns an error when it cannot start: an assignment that does not fit the
// layout, or the consumer cannot be created.
func (d *Detector) Run(ctx context.Context) error {
	cons, info, err := d.consumer(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	close(d.ready)
	d.log.Info("detector started; standing by until the server pins it to the durable", "durable", d.Durable(), "partitions", d.ownedList(), "of", d.layout.Partitions,
		"batch", d.opts.Batch, "failover_after", d.opts.FailoverAfter)
	floor := min(d.opts.CatalogueAt, info.AckFloor.Stream)
	for ctx.Err() == nil {
		tctx, stopTail := context.WithCancel(ctx)
		tail := d.tailDirectory(tctx, cons, floor+1)
		got, err := d.standby(ctx, cons)
		if err != nil {
			stopTail()
			<-tail.done
			break // ctx ended
		}
		var at uint64
		at, err = d.active(ctx, cons, got, tail)
		stopTail()
		<-tail.done
		if err == nil || ctx.Err() != nil {
			break
		}
		// Lost the pin (or could not take over): nothing of this active period is kept but
		// the catalogue, which the tail keeps current from the ack floor on.
		d.redo = newEvaluated(maxAckPending(d.opts.Batch))
		if f, ok := d.eval.(Forgetter); ok {
			f.Forget()
		}
		if errors.Is(err, errLostPin) {
			d.log.Warn("lost the pin: another detector is active for this member; standing by", "durable", d.Durable())
		} else {
			d.log.Error("could not take over; standing by again", "durable", d.Durable(), "err", err)
			_ = retry.Sleep(ctx, time.Second)
		}
		// The next tail starts where the catalogue is known to hold every directory event: the
		// ack floor of the takeover (this detector applied some events above it, which the tail
		// applies again, in the same order), not the ack floor now, which another active may
		// have moved past events this detector never applied.
		floor = max(floor, at)
	}
	d.log.Info("detector stopped")
	return nil
}

// active is one active period: pinned, it takes over (takeOver), stops the directory tail at
// the ack floor, warms the windows up and consumes until ctx ends (nil) or the pin is lost
// (errLostPin). at is the ack floor it took over at, up to which the catalogue holds every
// directory event (0 when it did not take over).
func (d *Detector) active(ctx context.Context, cons jetstream.Consumer, got pinned, tail *dirTail) (at uint64, err error) {
	pin := got.pin
	// lost ends when the pin is lost, never at shutdown: then the batch in hand is finished.
	lost, lose := context.WithCancelCause(context.WithoutCancel(ctx))
	defer lose(nil)
	kctx, stopKeep := context.WithCancel(lost) // the keep-alive runs until the batches in hand are finished
	var keeper sync.WaitGroup
	keeper.Go(func() { d.keepPin(kctx, cons, lose) })
	defer keeper.Wait()
	defer stopKeep()
	actx, stop := context.WithCancel(lost) // ends at shutdown or when the pin is lost
	defer stop()
	defer context.AfterFunc(ctx, stop)()

	floor, err := d.takeOver(actx, cons, got)
	if err != nil {
		tail.stop(0)
		return 0, err
	}
	if !tail.stop(floor) {
		return 0, fmt.Errorf("directory events up to the ack floor %d not applied: %w", floor, ctx.Err())
	}
	d.metrics.takeovers.Inc()
	d.metrics.active.Set(1)
	defer d.metrics.active.Set(0)
	d.log.Info(fmt.Sprintf("took over member %d of %d", d.opts.Member, d.opts.Members), "durable", d.Durable(), "ack_floor", floor,
		"maybe_stored_upto", d.againUpTo)
	if err := d.restoreSuppression(actx, floor); err != nil && actx.Err() == nil {
		d.log.Error("suppression not restored: hits suppressed before the restart may alert again", "err", err)
	}
	if err := d.warmUp(actx, floor); err != nil && actx.Err() == nil {
		d.log.Error("warm-up failed: windows miss some of the events before the restart", "err", err)
	}
	if lost.Err() == nil && ctx.Err() == nil {
		d.consume(ctx, lost, lose, cons, pin)
	}
	stopKeep()
	keeper.Wait()
	if lost.Err() != nil {
		return floor, errLostPin
	}
	d.unpin(cons, pin)
	return floor, nil
}

// consume fetches and processes batches until ctx ends (the batch in hand and the one fetched
// ahead are finished) or lost (they are dropped, unacked).
func (d *Detector) consume(ctx, lost context.Context, lose func(error), cons jetstream.Consumer, pin string) {
	fctx, stop := context.WithCancel(lost)
	defer stop()
	defer context.AfterFunc(ctx, stop)()
	// The fetcher fetches and decodes the next batch while this goroutine evaluates and makes
	// durable the one in hand. next is unbuffered: the fetcher holds at most one batch ahead.
	// free tells it when this goroutine is ready for the next batch (see fetch).
	next, free := make(chan *batch), make(chan time.Time, 1)
	var g errgroup.Group
	g.Go(func() error {
		defer close(next)
		d.fetch(fctx, lost, lose, cons, pin, free, next)
		return nil
	})
	var unevaluated []*batch // handed over after a batch failed at shutdown, in stream order
	failed := false          // the last batch was not made durable
	for {
		free <- time.Now() // does not block for long: the fetcher takes each signal before, or right after, the batch
		b, ok := <-next
		if !ok {
			break
		}
		if lost.Err() != nil {
			continue // dropped unacked: the next active's reset delivers it again
		}
		if failed && ctx.Err() != nil {
			// Shutting down with history failing: do not wait out another FlushTimeout.
			unevaluated = append(unevaluated, b)
			continue
		}
		// The fetcher hands a batch over within maxAhead of its fetch or last renewal, so
		// FlushTimeout from now ends before AckWait (FlushTimeout + 30 s) from then: a batch is
		// never redelivered while in hand. A batch is finished even when shutdown has begun (the one
		// fetched ahead too: the fetcher hands it over and then stops), not when the pin is lost.
		bctx, cancel := context.WithTimeout(lost, d.opts.FlushTimeout)
		err := d.process(bctx, b, func() error {
			pinned, err := d.stillPinned(bctx, cons, pin)
			if err == nil && !pinned {
				lose(errLostPin)
				return errLostPin
			}
			return err
		})
		cancel()
		failed = err != nil
		if err != nil && lost.Err() == nil {
			d.metrics.batchFailures.Inc()
			d.log.Error("batch not durable, left for redelivery", "err", err, "events", len(b.msgs))
			if d.holdsPin(lost, cons, pin, lose) {
				for _, m := range b.msgs {
					_ = m.NakWithDelay(2 * time.Second)
				}
			}
			_ = retry.Sleep(fctx, time.Second)
		}
	}
	_ = g.Wait() // the fetcher has stopped once next is closed
	if lost.Err() != nil {
		return
	}
	// Only now, with no fetch running that could take them back, are they given back.
	if len(unevaluated) > 0 && d.holdsPin(lost, cons, pin, lose) {
		for _, b := range unevaluated {
			d.release(b)
		}
	}
}

// process evaluates a batch and makes it durable; it acks the messages only when everything
// is durable.
//
// Each event is applied to the catalogue and evaluated once: an event this detector already
// evaluated in a batch that was not made durable gets the alerts of that evaluation back (see
// evaluated). Evaluating it again would lose alerts: the rules' suppression state has already
// seen the hit and would fold the redelivered one into an alert that was never published.
//
// pinned is asked before anything is written: an error (the pin is lost, or the server could
// not be asked within ctx) leaves the batch unwritten and unacked. When the pin is lost
// (ctx's cause errLostPin) evaluation stops at once.
func (d *Detector) process(ctx context.Context, b *batch, pinned func() error) error {
	start := time.Now()
	results := make([][]event.Alert, len(b.evs))
	var alerts []event.Alert
	for i, e := range b.evs {
		if i%256 == 0 && errors.Is(context.Cause(ctx), errLostPin) {
			return errLostPin // stop at once; the evaluator's state is forgotten before standing by
		}
		got, seen := d.redo.get(b.keys[i])
		if !seen {
			got = d.evaluate(ctx, e)
		}
		alerts = append(alerts, got...)
		results[i] = got
	}
	if err := pinned(); err != nil {
		d.redo.remember(b.keys, results)
		return err // nothing written: this or the new active writes the batch when it comes again
	}
	if err := d.commit(ctx, d.toStore(b.evs), alerts, b.again); err != nil {
		d.redo.remember(b.keys, results)
		return err
	}
	for _, m := range b.msgs {
		if err := m.Ack(); err != nil {
			d.log.Warn("ack failed; event will be redelivered", "err", err)
		}
	}
	d.redo.forget(b.keys)
	d.metrics.events.Add(float64(len(b.evs)))
	d.metrics.alerts.Add(float64(len(alerts)))
	d.metrics.batchSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// evaluate applies a directory event to the catalogue, then runs the rules on e if this
// detector owns e's account: every detector applies every directory event, but only the owner
// of its account evaluates it, so each event is evaluated exactly once in a set of detectors.
func (d *Detector) evaluate(ctx context.Context, e *event.Event) []event.Alert {
	if e.Kind == event.KindDirectory {
		if err := d.cat.Apply(e); err != nil {
			d.log.Error("directory event not applied", "id", e.ID, "err", err)
		}
		if !d.owns(e) {
			return nil
		}
	} else if !d.owns(e) {
		// Delivered on one of our partitions, so nobody else sees it: evaluate it anyway.
		d.metrics.misrouted.Inc()
		if !d.misrouted {
			d.misrouted = true
			d.log.Warn("event on a partition its account does not hash to: a publisher uses another partition count", "id", e.ID, "kind", e.Kind)
		}
	}
	alerts := d.eval.Evaluate(ctx, e)
	now := d.opts.Clock()
	for i := range alerts {
		if alerts[i].Detected.IsZero() {
			alerts[i].Detected = now
		}
		d.fileUnderHomeOrg(&alerts[i], e)
	}
	return alerts
}

// fileUnderHomeOrg sets the alert's Org to its account's home organisation from the catalogue
// (directory record, else realm), not to the org the event claims: the log source writes that
// field, and incidents, the deactivation cap and the adapter choice all key on Org. A claim
// that disagrees is kept in ClaimedOrg, counted and logged. With no directory record and no
// realm (a guardian's ID-porten id) the claim is all there is and stands.
func (d *Detector) fileUnderHomeOrg(a *event.Alert, e *event.Event) {
	home, ok := d.cat.HomeOrg(a.Account)
	if !ok || home == a.Org {
		return
	}
	d.metrics.orgMismatch.Inc()
	d.log.Warn("event claims another organisation than its account's home; alert filed under the home organisation",
		"event", e.ID, "rule", a.RuleID, "alert", a.ID, "claimed_org", a.Org, "home_org", home)
	a.ClaimedOrg, a.Org = a.Org, home
}

// toStore returns the events of evs this detector writes to history: all of them but the
// directory events whose account another member of the set owns. Every member receives and
// applies every directory event, and only the owner of its account stores it, so each event is
// stored once in the set (counted without FINAL). A member rebuilding its catalogue from history
// then may lack the directory events other members have not processed yet: CatalogueFloor
// starts its catch-up from the stream below the lowest position of the set.
func (d *Detector) toStore(evs []*event.Event) []*event.Event {
	if !slices.Contains(d.owned, false) {
		return evs // a set of one stores everything
	}
	out := make([]*event.Event, 0, len(evs))
	for _, e := range evs {
		if e.Kind != event.KindDirectory || d.owns(e) {
			out = append(out, e)
		}
	}
	return out
}

// commit makes a batch durable: the events in history, then the alerts in history and on the
// ALERTS stream with their PubAcks. When the batch may have been written before (again), and
// after any failed write (which ClickHouse may have stored all the same), it writes only the
// rows history does not hold yet.
func (d *Detector) commit(ctx context.Context, evs []*event.Event, alerts []event.Alert, again bool) error {
	err := writeMissing(ctx, evs, again, d.hist.Unwritten, d.hist.WriteEvents, func(skipped int) {
		d.metrics.rewritesSkipped.Add(float64(skipped))
	})
	if err != nil {
		return fmt.Errorf("write %d events to history: %w", len(evs), err)
	}
	if d.opts.AfterEventsWritten != nil {
		d.opts.AfterEventsWritten()
	}
	if len(alerts) == 0 {
		return nil
	}
	if err := writeMissing(ctx, alerts, again, d.hist.UnwrittenAlerts, d.hist.WriteAlerts, nil); err != nil {
		return fmt.Errorf("write %d alerts to history: %w", len(alerts), err)
	}
	// Published again in place while NATS is out of reach (the ALERTS leader died with the
	// batch's PubAcks, a new one is being elected): giving the batch back instead would let the
	// batch fetched ahead be evaluated before it, and its events' windows and suppression would
	// see them out of order. Alert ids make a second publication a duplicate JetStream drops.
	return retry.Forever(ctx, historyBackoff, func() error {
		err := d.publish(ctx, alerts)
		if err != nil && !bus.Unavailable(err) {
			return retry.Permanent(err)
		}
		return err
	})
}

// historyBackoff paces the retries of history writes.
var historyBackoff = retry.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}

// writeMissing writes rows to history, retrying until it succeeds or ctx ends. When the rows
// may be stored already (maybeStored, and after any failed write, which ClickHouse may have
// stored all the same) it first asks unwritten for the rows history does not hold and writes
// only those, reporting how many it skipped to skipped (if not nil).
func writeMissing[T any](ctx context.Context, rows []T, maybeStored bool,
	unwritten func(context.Context, []T) ([]T, error), write func(context.Context, []T) error, skipped func(int)) error {
	return retry.Forever(ctx, historyBackoff, func() error {
		todo := rows
		if maybeStored {
			var err error
			if todo, err = unwritten(ctx, rows); err != nil {
				return err
			}
			if skipped != nil {
				skipped(len(rows) - len(todo))
			}
		}
		maybeStored = true
		return write(ctx, todo)
	})
}

func (d *Detector) publish(ctx context.Context, alerts []event.Alert) error {
	futures := make([]jetstream.PubAckFuture, 0, len(alerts))
	for i := range alerts {
		data, err := alertJSON(&alerts[i])
		if err != nil {
			return err
		}
		f, err := d.pub.Publish(ctx, bus.AlertSubject(alerts[i].Severity), alerts[i].ID, data, nil)
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	_, err := bus.Wait(ctx, futures)
	return err
}
