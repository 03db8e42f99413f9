package channel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/retry"
)

// RetryPolicy bounds the attempts to deliver one message to one channel. Zero fields take
// the defaults.
type RetryPolicy struct {
	MaxAttempts    int           // attempts in all, including the first (default 6)
	Initial        time.Duration // first backoff (default 1 s), doubled per attempt
	Max            time.Duration // backoff cap (default 1 min)
	MaxElapsed     time.Duration // no attempt starts after this since the first (default 5 min)
	AttemptTimeout time.Duration // per attempt (default 15 s)
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	// A field not above zero takes its default.
	p.MaxAttempts = cmp.Or(max(p.MaxAttempts, 0), 6)
	p.Initial = cmp.Or(max(p.Initial, 0), time.Second)
	p.Max = cmp.Or(max(p.Max, 0), time.Minute)
	p.MaxElapsed = cmp.Or(max(p.MaxElapsed, 0), 5*time.Minute)
	p.AttemptTimeout = cmp.Or(max(p.AttemptTimeout, 0), 15*time.Second)
	return p
}

// backoff is the delay after each failed attempt: Initial·2^(n-1), capped at Max, spread
// over [d/2, d) by jitter (a value in [0, 1); nil: math/rand/v2).
func (p RetryPolicy) backoff(jitter func() float64) retry.Backoff {
	return retry.Backoff{Initial: p.Initial, Max: p.Max, Jitter: 0.5, Rand: jitter}
}

// Options configures a Dispatcher. KV is required.
type Options struct {
	KV jetstream.KeyValue  // dedup bucket (EnsureBucket); required
	JS jetstream.JetStream // for channels of type nats (config only)
	// HTTP is used by the webhook, slack and teams channels built from a config.
	HTTP  HTTPOptions
	Retry RetryPolicy // the config's retry section overrides the fields it sets
	// LinkBase: when set, a message with an incident and no Link gets
	// <LinkBase>/incidents/<id>. The config's link_base overrides it.
	LinkBase string
	// PerChannel bounds concurrent sends per channel over all Dispatch calls (default 4).
	PerChannel int
	Logger     *slog.Logger                                     // default slog.Default()
	Registerer prometheus.Registerer                            // nil: metrics not registered
	Clock      func() time.Time                                 // default time.Now
	Sleep      func(ctx context.Context, d time.Duration) error // default retry.Sleep
	Jitter     func() float64                                   // [0,1), default math/rand/v2
	Owner      string                                           // claim owner (default host:pid)
}

// Dispatcher routes messages to channels and delivers them with retries, at most once per
// (channel, Key) while the dedup bucket remembers it. See the package documentation.
type Dispatcher struct {
	router   Router
	channels map[string]*slot
	retry    RetryPolicy
	backoff  retry.Backoff
	linkBase string
	dedup    *dedup
	log      *slog.Logger
	metrics  *metrics
	clock    func() time.Time
	sleep    func(context.Context, time.Duration) error
}

// slot is a channel with its concurrency bound.
type slot struct {
	ch  Channel
	sem chan struct{}
}

// New returns a Dispatcher over channels, routed by router. Every channel name the router
// uses must be among channels, and names must be unique and KV-safe ([A-Za-z0-9_-]).
func New(router Router, channels []Channel, opts Options) (*Dispatcher, error) {
	if opts.KV == nil {
		return nil, errors.New("dispatcher: no dedup bucket (Options.KV)")
	}
	if opts.PerChannel <= 0 {
		opts.PerChannel = 4
	}
	d := &Dispatcher{
		router:   router,
		channels: make(map[string]*slot, len(channels)),
		retry:    opts.Retry.withDefaults(),
		linkBase: strings.TrimRight(opts.LinkBase, "/"),
		log:      opts.Logger,
		clock:    opts.Clock,
		sleep:    opts.Sleep,
	}
	d.backoff = d.retry.backoff(opts.Jitter)
	if d.log == nil {
		d.log = slog.Default()
	}
	d.log = d.log.With("component", "notify_channel")
	if d.clock == nil {
		d.clock = time.Now
	}
	if d.sleep == nil {
		d.sleep = retry.Sleep
	}
	for _, c := range channels {
		if c == nil {
			return nil, errors.New("dispatcher: nil channel")
		}
		if !nameRE.MatchString(c.Name()) {
			return nil, fmt.Errorf("dispatcher: channel name %q: want [A-Za-z0-9_-], at most 64", c.Name())
		}
		if _, dup := d.channels[c.Name()]; dup {
			return nil, fmt.Errorf("dispatcher: channel %q defined twice", c.Name())
		}
		d.channels[c.Name()] = &slot{ch: c, sem: make(chan struct{}, opts.PerChannel)}
	}
	refs := append([]string(nil), router.Default...)
	for _, r := range router.Routes {
		refs = append(refs, r.Channels...)
	}
	for _, n := range refs {
		if _, ok := d.channels[n]; !ok {
			return nil, fmt.Errorf("dispatcher: route uses unknown channel %q", n)
		}
	}
	owner := opts.Owner
	if owner == "" {
		host, _ := os.Hostname()
		owner = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	// A claim outlives every send that can still be running, so only an abandoned claim
	// (crashed owner) is ever taken over.
	lease := d.retry.MaxElapsed + d.retry.AttemptTimeout + time.Minute
	d.dedup = &dedup{kv: opts.KV, owner: owner, lease: lease, clock: d.clock}
	var err error
	if d.metrics, err = newMetrics(opts.Registerer); err != nil {
		return nil, fmt.Errorf("dispatcher: metrics: %w", err)
	}
	return d, nil
}

// Route returns the names of the channels m would go to.
func (d *Dispatcher) Route(m *Message) []string { return d.router.Channels(m) }

// Dispatch delivers m to every channel its route selects, in parallel, and waits for all of
// them: each gets up to RetryPolicy attempts unless (channel, m.Key) was already delivered.
// It blocks until every channel is done or ctx ends; a slow channel delays the return, not
// the other channels. It returns nil if every channel delivered (or had delivered before),
// otherwise the joined errors of the channels that failed, each naming its channel (they are
// returned, not logged: the caller logs them; Warn lines here are about dedup records). An
// invalid message is an error and nothing is sent. Safe for concurrent use.
func (d *Dispatcher) Dispatch(ctx context.Context, m Message) error {
	if err := d.prepare(&m); err != nil {
		return err
	}
	names := d.router.Channels(&m)
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() { errs[i] = d.deliver(ctx, d.channels[n], m, false) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// prepare checks m (an invalid message is a permanent error) and gives a message about an
// incident without a link the incident's link under LinkBase.
func (d *Dispatcher) prepare(m *Message) error {
	if err := m.Validate(); err != nil {
		return retry.Permanent(fmt.Errorf("dispatch: %w", err))
	}
	if m.Link == "" && d.linkBase != "" && m.Incident != nil {
		m.Link = d.linkBase + "/incidents/" + url.PathEscape(m.Incident.ID)
	}
	return nil
}

// deliver claims, sends with retries and records one message on one channel. A message
// delivered before is done; one another sender holds a live claim on is done too unless
// strict, where it is a transient error wrapping ErrInFlight (DispatchTo).
func (d *Dispatcher) deliver(ctx context.Context, s *slot, m Message, strict bool) error {
	name := s.ch.Name()
	log := d.log.With("channel", name, "key", m.Key, "kind", m.Kind)
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		d.metrics.sends.WithLabelValues(name, resultCanceled).Inc()
		return fmt.Errorf("channel %s: waiting for a send slot: %w", name, ctx.Err())
	}
	rev, other, err := d.dedup.claim(ctx, name, m.Key)
	switch {
	case err == nil && other != nil && strict && other.State == stateSending:
		return retry.Transient(fmt.Errorf("channel %s: %s: %w (%s)", name, m.Key, ErrInFlight, other.Owner), 0)
	case err != nil && ctx.Err() != nil:
		d.metrics.sends.WithLabelValues(name, resultCanceled).Inc()
		return fmt.Errorf("channel %s: %w", name, err)
	case err != nil:
		// Sending without a claim risks a duplicate; not sending risks a missed page.
		// A missed page is worse.
		d.metrics.sends.WithLabelValues(name, resultDedupErr).Inc()
		log.Warn("dedup claim failed, sending anyway", "err", err)
	case other != nil:
		d.metrics.sends.WithLabelValues(name, resultDuplicate).Inc()
		return nil
	}
	claimed := err == nil
	bg := context.WithoutCancel(ctx) // dedup bookkeeping also after cancellation, bounded
	result, sendErr := d.attempts(ctx, s.ch, m)
	d.metrics.sends.WithLabelValues(name, result).Inc()
	if sendErr == nil {
		rctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		if err := d.dedup.delivered(rctx, name, m.Key); err != nil {
			log.Warn("delivered but not recorded; a repeat of this message will be sent again", "err", err)
		}
		return nil
	}
	if claimed {
		rctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		if err := d.dedup.release(rctx, name, m.Key, rev); err != nil {
			log.Warn("could not release claim; a retry must wait for the lease", "err", err)
		}
	}
	return fmt.Errorf("channel %s: %w", name, sendErr)
}

// attempts sends until success, a permanent error, or the policy's bounds.
func (d *Dispatcher) attempts(ctx context.Context, ch Channel, m Message) (string, error) {
	p := d.retry
	name := ch.Name()
	start := d.clock()
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, p.AttemptTimeout)
		t0 := d.clock()
		err := ch.Send(actx, m)
		d.metrics.latency.WithLabelValues(name).Observe(d.clock().Sub(t0).Seconds())
		cancel()
		switch {
		case err == nil:
			return resultDelivered, nil
		case ctx.Err() != nil:
			return resultCanceled, fmt.Errorf("attempt %d: %w (%w)", n, ctx.Err(), err)
		case retry.IsPermanent(err):
			return resultPermanent, fmt.Errorf("attempt %d: permanent: %w", n, err)
		case n >= p.MaxAttempts:
			return resultExhausted, fmt.Errorf("gave up after %d attempts: %w", n, err)
		}
		// The destination's Retry-After is honoured in full, not capped by Max: when it
		// is past MaxElapsed the delivery gives up rather than retrying too early.
		delay := d.backoff.Delay(n)
		if ra, ok := retry.RetryAfter(err); ok && ra > delay {
			delay = ra
		}
		if elapsed := d.clock().Sub(start); elapsed+delay > p.MaxElapsed {
			return resultExhausted, fmt.Errorf("gave up after %d attempts in %s (next in %s would pass %s): %w",
				n, elapsed.Round(time.Millisecond), delay.Round(time.Millisecond), p.MaxElapsed, err)
		}
		d.log.Debug("send failed, retrying", "channel", name, "key", m.Key, "attempt", n, "delay", delay, "err", err)
		d.metrics.retries.WithLabelValues(name).Inc()
		if serr := d.sleep(ctx, delay); serr != nil {
			return resultCanceled, fmt.Errorf("attempt %d: %w (%w)", n, serr, err)
		}
	}
}
