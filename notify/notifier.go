package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/event"
	"breachd/retry"
)

// Mirror keeps a queryable copy of incidents (history implements it with ClickHouse).
//
// UpsertIncident must be idempotent: it may be called again with the same version (after a
// redelivery) and, with several notifiers, with an older version after a newer one, so keep
// the highest Version. An error makes the notifier leave the alert unacked: it is redelivered
// and the upsert repeated. It must honour ctx (it carries a deadline), must not modify inc and
// may retain it.
type Mirror interface {
	UpsertIncident(ctx context.Context, inc *event.Incident) error
}

// Options configures a Notifier. The zero value is usable.
type Options struct {
	// Incidents is the service the alerts change incidents through; nil: Run makes one with
	// Mirror and Clock.
	Incidents *Incidents
	Mirror    Mirror // nil: no mirror (only when Incidents is nil)
	// Responder executes the deactivation an alert's rule allows (respond.Engine); nil: the
	// request is only recorded in the incident.
	Responder Responder
	Clock     func() time.Time // default time.Now
	Logger    *slog.Logger     // default slog.Default()
	Durable   string           // consumer name on ALERTS, shared by all notifiers (default "notify")
	Batch     int              // alerts per pull (default 8, at most 256); see Run
	// FailoverAfter is the durable's PinnedTTL (default DefaultFailoverAfter, at least 1 s):
	// a standby notifier takes over once the active one has not renewed its pin for this long
	// (see pin.go).
	FailoverAfter time.Duration
	Registerer    prometheus.Registerer // nil: metrics are not registered
}

const (
	defaultBatch  = 8
	maxBatch      = 256
	maxAckPending = 1024             // per durable, over all notifier processes
	ackWait       = 30 * time.Second // redelivery after this long without ack
	handleTimeout = 20 * time.Second // per alert: KV, mirror, publish; below ackWait
	fetchWait     = 2 * time.Second  // per pull; bounds how long shutdown waits for a pull
	maxRetryDelay = 30 * time.Second
)

// DefaultDurable is the notifiers' consumer on ALERTS unless Options.Durable names another.
const DefaultDurable = "notify"

// Notifier turns alerts into incidents. See the package documentation.
type Notifier struct {
	js      jetstream.JetStream
	inc     *Incidents
	mirror  Mirror
	respond Responder
	clock   func() time.Time
	log     *slog.Logger
	durable string
	batch   int
	metrics *metrics
	running atomic.Bool
	failing bool // the last alert failed with a retryable error (Run's goroutine only)

	failoverAfter time.Duration
	active        atomic.Bool  // this notifier holds the pin (Run sets it, the keep-alive may clear it)
	lastFetch     atomic.Int64 // when Run last sent a pull request (unix ns)
}

// New checks opts and returns a Notifier. It registers the metrics but does not touch NATS;
// Run does.
func New(js jetstream.JetStream, opts Options) (*Notifier, error) {
	if js == nil {
		return nil, errors.New("notify: nil JetStream")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Durable == "" {
		opts.Durable = DefaultDurable
	}
	if opts.Batch <= 0 {
		opts.Batch = defaultBatch
	}
	opts.Batch = min(opts.Batch, maxBatch)
	if opts.FailoverAfter <= 0 {
		opts.FailoverAfter = DefaultFailoverAfter
	}
	opts.FailoverAfter = max(opts.FailoverAfter, time.Second)
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("notify: metrics: %w", err)
	}
	return &Notifier{
		js: js, inc: opts.Incidents, mirror: opts.Mirror, respond: opts.Responder,
		clock: opts.Clock, log: opts.Logger.With("component", "notify"),
		durable: opts.Durable, batch: opts.Batch, metrics: m, failoverAfter: opts.FailoverAfter,
	}, nil
}

// Run consumes alerts until ctx ends, then finishes the alert in hand, naks what it fetched
// but did not start (so another notifier gets it at once) and returns nil. It needs the ALERTS
// stream and the incidents bucket (bus.Ensure) and creates or updates the durable pull
// consumer. It returns an error if that setup fails or the connection is closed; other
// failures are retried. Run must not be called again while it runs.
//
// Alerts of a pull wait for the ones before them, and redelivery starts 30 s after delivery:
// keep Batch times the usual handling time well below that (a redelivered alert is harmless,
// only wasted work).
func (n *Notifier) Run(ctx context.Context) error {
	if !n.running.CompareAndSwap(false, true) {
		return errors.New("notify: Run called twice")
	}
	defer n.running.Store(false)
	inc := n.inc
	if inc == nil {
		var err error
		if inc, err = NewIncidents(ctx, n.js, IncidentsOptions{Mirror: n.mirror, Clock: n.clock}); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("notify: %w", err)
		}
	}
	cons, err := n.js.CreateOrUpdateConsumer(ctx, bus.StreamAlerts, jetstream.ConsumerConfig{
		Durable:       n.durable,
		Description:   "breachd notifier: alerts into incidents",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxAckPending,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// One active notifier, any number of standbys (pin.go); a durable of an earlier
		// version is updated in place (the server allows changing the priority settings).
		PriorityGroups: []string{pinGroup},
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PinnedTTL:      n.failoverAfter,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("notify: consumer %s on %s: %w", n.durable, bus.StreamAlerts, err)
	}
	n.log.Info("notifier started", "durable", n.durable, "batch", n.batch, "failover_after", n.failoverAfter)
	kctx, stopKeep := context.WithCancel(context.WithoutCancel(ctx))
	keeper := make(chan struct{})
	go func() {
		defer close(keeper)
		n.keepPin(kctx, cons)
	}()
	pin := "" // the pin this notifier holds; "" while it stands by
	defer func() {
		stopKeep()
		<-keeper
		n.unpin(cons, pin)
		n.setActive(false)
	}()
	failures := 0 // fetches failed in a row
	fetchBackoff := retry.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}
	for ctx.Err() == nil {
		if !n.active.Load() {
			pin = "" // the keep-alive was refused (423)
		}
		want := n.batch
		if pin == "" {
			want = 1 // standing by: a message that comes pins this notifier, and is dropped for the reset
		}
		n.lastFetch.Store(time.Now().UnixNano())
		batch, err := cons.Fetch(want, jetstream.FetchMaxWait(fetchWait), jetstream.FetchPriorityGroup(pinGroup))
		if err == nil {
			// The whole pull is handled, also once shutdown has begun (each alert is bounded
			// by handleTimeout): a Nak would be lost to the redelivery queue of a server that
			// restarts with us (the embedded one), leaving the alert to wait out AckWait.
			for msg := range batch.Messages() {
				if p := pinOf(msg); p != pin {
					// Pinned anew: reset first; msg comes again after the reset.
					if err := n.takeOver(ctx); err != nil {
						n.log.Warn("pinned, but the reset of the durable failed; alerts of the previous notifier come after AckWait", "err", err)
					}
					pin = p
					n.setActive(true)
					continue
				}
				n.handle(ctx, inc, msg)
			}
			err = batch.Error()
			if errors.Is(err, jetstream.ErrPinIDMismatch) {
				if pin != "" {
					n.log.Warn("lost the pin: another notifier is active; standing by", "durable", n.durable)
				}
				pin, err = "", nil
				n.setActive(false)
			}
		}
		switch {
		case err == nil, errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoMessages):
			if failures > 0 {
				n.log.Info("fetching alerts again")
			}
			failures = 0
		case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, jetstream.ErrConnectionClosed):
			return fmt.Errorf("notify: fetch alerts: %w", err)
		default:
			if failures == 0 {
				n.log.Warn("fetch alerts failed; retrying", "err", err)
			}
			failures++
			_ = retry.Sleep(ctx, fetchBackoff.Delay(failures)) // a cancelled ctx ends the loop
		}
	}
	n.log.Info("notifier stopped")
	return nil
}

// handle processes one alert message and acks, naks or terminates it. The work runs to its
// end on a context that ignores Run's cancellation (bounded by handleTimeout), so an alert in
// hand at shutdown is finished rather than left half-done.
func (n *Notifier) handle(ctx context.Context, inc *Incidents, msg jetstream.Msg) {
	a, err := decodeAlert(msg.Data())
	if err != nil {
		n.log.Error("invalid alert dropped", "err", err, "subject", msg.Subject(), "stream_seq", seq(msg))
		if err := msg.TermWithReason("invalid alert"); err != nil {
			n.log.Warn("terminate invalid alert", "err", err)
		}
		n.metrics.alerts.WithLabelValues(resultInvalid).Inc()
		return
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handleTimeout)
	defer cancel()
	result, err := n.process(hctx, inc, a)
	if err != nil {
		delay := retryDelay(msg)
		if !n.failing {
			n.log.Warn("alert not handled; will be redelivered", "err", err, "alert_id", a.ID, "retry_in", delay)
		} else {
			n.log.Debug("alert not handled; will be redelivered", "err", err, "alert_id", a.ID, "retry_in", delay)
		}
		n.failing = true
		if err := msg.NakWithDelay(delay); err != nil {
			n.log.Debug("nak alert", "err", err, "alert_id", a.ID)
		}
		n.metrics.alerts.WithLabelValues(resultRetry).Inc()
		return
	}
	if n.failing {
		n.log.Info("alerts are handled again")
		n.failing = false
	}
	// DoubleAck waits for the server, so an alert handled at shutdown is settled before Run
	// returns and the owner closes the connection.
	if err := msg.DoubleAck(hctx); err != nil {
		// Redelivery is harmless: the alert is recognised as a duplicate.
		n.log.Warn("ack alert", "err", err, "alert_id", a.ID)
	}
	n.metrics.alerts.WithLabelValues(result).Inc()
}

// process records a through the Incidents service (KV, mirror, INCIDENTS). An error means the
// alert must be redelivered; everything done before it is idempotent.
func (n *Notifier) process(ctx context.Context, inc *Incidents, a *event.Alert) (string, error) {
	res, err := inc.recordAlert(ctx, a, n.respond)
	if res.conflicts > 0 {
		n.metrics.conflicts.Add(float64(res.conflicts))
	}
	if err != nil {
		return "", err
	}
	if res.fresh && res.change.Kind == ChangeOpened {
		n.metrics.opened.Inc()
		n.log.Info("incident opened", "incident_id", res.change.Incident.ID, "severity", res.change.Incident.Severity, "alert_id", a.ID)
	}
	return res.result, nil
}

// alertBackoff spaces the redeliveries of an alert that failed: 0.5 s, 1 s, 2 s, … 30 s.
var alertBackoff = retry.Backoff{Initial: 500 * time.Millisecond, Max: maxRetryDelay}

// retryDelay is the delay before msg is delivered again, by its delivery count.
func retryDelay(msg jetstream.Msg) time.Duration { return alertBackoff.Delay(deliveries(msg)) }

// deliveries is how often msg has been delivered (1 if its metadata cannot be read).
func deliveries(msg jetstream.Msg) int {
	if md, err := msg.Metadata(); err == nil {
		return int(md.NumDelivered)
	}
	return 1
}

func seq(msg jetstream.Msg) uint64 {
	if md, err := msg.Metadata(); err == nil {
		return md.Sequence.Stream
	}
	return 0
}
