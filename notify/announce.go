package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/retry"
)

// AnnounceOptions configures an Announcer. The zero value is usable.
type AnnounceOptions struct {
	// Timeout bounds the delivery of one change, retries included (default 6 min: the
	// channels' default retries take up to 5).
	Timeout time.Duration
	// AckWait is how long the server waits for an ack or a sign of progress before it
	// redelivers a change (default 30 s); a running delivery reports progress every AckWait/3,
	// so this is the delay after a crash.
	AckWait time.Duration
	// Backoff is the delay before a failed change is redelivered, by delivery count (default
	// 1 s doubling up to 5 min, with jitter).
	Backoff    retry.Backoff
	Batch      int                   // changes in hand at once (default 16)
	Logger     *slog.Logger          // default slog.Default()
	Registerer prometheus.Registerer // nil: metrics not registered
}

// Announcer feeds one Sink from the INCIDENTS stream through the durable pull consumer
// "announce-<sink name>" (explicit ack, created delivering only changes published after its
// creation). A change is acked after the sink took it; a failure is redelivered after a growing
// delay, without limit; a permanent failure (retry.IsPermanent) and a message that is no
// incident change are logged at Error and terminated. Several processes may run an Announcer
// for the same sink: they share the consumer, and each change goes to one of them at a time.
type Announcer struct {
	sink    Sink
	cons    jetstream.Consumer
	durable string
	opts    AnnounceOptions
	log     *slog.Logger
	metrics *metrics
}

var sinkNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// AnnouncerName is the durable consumer on INCIDENTS that feeds the sink named sinkName.
func AnnouncerName(sinkName string) string { return "announce-" + sinkName }

// NewAnnouncer creates (or updates) the sink's consumer, so that every change published after
// NewAnnouncer returns reaches the sink, also if the Announcer only runs later.
func NewAnnouncer(ctx context.Context, js jetstream.JetStream, sink Sink, opts AnnounceOptions) (*Announcer, error) {
	if sink == nil || !sinkNameRE.MatchString(sink.Name()) {
		return nil, errors.New("announcer: nil sink or sink name not [A-Za-z0-9_-]{1,64}")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 6 * time.Minute
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 30 * time.Second
	}
	if opts.Backoff.Initial <= 0 {
		opts.Backoff = retry.Backoff{Initial: time.Second, Max: 5 * time.Minute, Jitter: 0.2}
	}
	if opts.Batch <= 0 {
		opts.Batch = 16
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("announcer: metrics: %w", err)
	}
	durable := AnnouncerName(sink.Name())
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamIncidents, jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   "breachd: incident changes announced to " + sink.Name(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxAckPending: 4 * opts.Batch,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("announcer: consumer %s on %s: %w", durable, bus.StreamIncidents, err)
	}
	return &Announcer{sink: sink, cons: cons, durable: durable, opts: opts, metrics: m,
		log: opts.Logger.With("component", "notify.announce", "sink", sink.Name())}, nil
}

// Durable returns the consumer's name (for deploy.WaitIdle).
func (a *Announcer) Durable() string { return a.durable }

// Run announces changes until ctx ends. The changes in hand then get a few seconds to finish;
// the rest are left unacked and are redelivered (to this sink's consumer, in any process)
// after AckWait. It returns an error only if the connection is closed.
func (a *Announcer) Run(ctx context.Context) error {
	// Up to Batch changes are in hand; a slow one (a channel retrying) holds only its slot.
	slots := make(chan struct{}, a.opts.Batch)
	var wg sync.WaitGroup
	defer wg.Wait()
	failures := 0 // fetches failed in a row
	fetchBackoff := retry.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}
	for ctx.Err() == nil {
		select {
		case slots <- struct{}{}: // wait for a free slot
			<-slots
		case <-ctx.Done():
			continue
		}
		batch, err := a.cons.Fetch(cap(slots)-len(slots), jetstream.FetchMaxWait(fetchWait))
		if err == nil {
			for msg := range batch.Messages() {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() { <-slots }()
					a.handle(ctx, msg)
				})
			}
			err = batch.Error()
		}
		switch {
		case err == nil, errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoMessages):
			failures = 0
		case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, jetstream.ErrConnectionClosed):
			return fmt.Errorf("announcer %s: %w", a.durable, err)
		default:
			if failures == 0 {
				a.log.Warn("fetch incident changes failed; retrying", "err", err)
			}
			failures++
			_ = retry.Sleep(ctx, fetchBackoff.Delay(failures))
		}
	}
	return nil
}

// drain is how long changes in hand at shutdown may still take.
const drain = 5 * time.Second

// handle gives one change to the sink and settles the message.
func (a *Announcer) handle(ctx context.Context, msg jetstream.Msg) {
	ch, err := DecodeChange(msg.Subject(), msg.Headers(), msg.Data())
	if err != nil {
		a.log.Error("not an incident change; dropped", "err", err, "stream_seq", seq(msg))
		_ = msg.TermWithReason("not an incident change")
		return
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.Timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(drain, cancel) })
	defer stop()
	progress := time.NewTicker(a.opts.AckWait / 3)
	defer progress.Stop()
	done := make(chan error, 1)
	go func() { done <- a.sink.Notify(hctx, ch) }()
	for {
		select {
		case <-progress.C:
			_ = msg.InProgress()
			continue
		case err = <-done:
		}
		break
	}
	log := a.log.With("incident_id", ch.Incident.ID, "version", ch.Incident.Version, "change", ch.Kind)
	switch {
	case err == nil:
		if err := msg.DoubleAck(hctx); err != nil {
			log.Warn("ack incident change; it will be announced again (deduplicated)", "err", err)
		}
	case retry.IsPermanent(err):
		a.metrics.sinkErrors.Inc()
		log.Error("notification cannot be delivered; dropped", "err", err)
		_ = msg.TermWithReason("permanent delivery failure")
	case ctx.Err() != nil:
		log.Info("shutdown before the notification was delivered; left for redelivery", "err", err)
	default:
		a.metrics.sinkErrors.Inc()
		delay := a.opts.Backoff.After(deliveries(msg), err)
		log.Warn("notification not delivered; will be redelivered", "err", err, "retry_in", delay)
		_ = msg.NakWithDelay(delay)
	}
}
